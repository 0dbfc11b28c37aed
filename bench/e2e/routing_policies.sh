#!/usr/bin/env bash
# A shared-prefix workload under each routing policy (issue #7): two real
# workers on the default model behind gqa-router (prefix caching on, no
# kvstore, so only the routing decides reuse), driven by gqa-loadgen with
# PREFIXES system prompts of 256 tokens shared by 90% of the requests. Each
# worker's KV cache is KV_BYTES, so a worker cannot keep every prefix when
# PREFIXES is large: then where a prompt goes decides whether it hits. Prints,
# per policy, the prefix-cache hit rate (cached prompt tokens / prompt
# tokens) and TTFT.
#   bench/e2e/routing_policies.sh [build dir] [requests] [rate] [prefixes] [kv bytes]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${1:-${root}/build}"
requests="${2:-60}"
rate="${3:-1}"
prefixes="${4:-16}"
kv_bytes="${5:-64MiB}"
model="${GQA_DEFAULT_MODEL:-$HOME/.cache/gqaserve/models/SmolLM2-135M-Instruct.Q4_1.gguf}"
dir="$(mktemp -d)"
echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //');" \
  "${prefixes} prefixes of 256 tokens, ${kv_bytes} of KV per worker, ${requests} requests at ${rate}/s"
echo "| policy | requests | prefix-cache hit rate | TTFT p50 (ms) | TTFT p99 (ms) | E2E p50 (ms) |"
echo "|---|---|---|---|---|---|"
for policy in round-robin least-loaded prefix-affinity kv-aware; do
  out="${dir}/${policy}.out"
  # Workers without --kvstore: gqa serve would share prefixes through it.
  workers=()
  wpids=()
  for i in 1 2; do
    "${build}/tools/gqa_worker/gqa-worker" --model "$model" --port 0 --listen 127.0.0.1 \
      --threads 1 --kv-bytes "$kv_bytes" >"${dir}/w${i}.out" 2>/dev/null &
    wpids+=($!)
  done
  for i in 1 2; do
    for _ in $(seq 600); do grep -q "listening on" "${dir}/w${i}.out" && break; sleep 0.1; done
    workers+=("$(sed -n 's/.*listening on \([^ ]*\).*/\1/p' "${dir}/w${i}.out")")
  done
  "${build}/tools/gqa_router/gqa-router" --model "$model" --port 0 --listen 127.0.0.1 \
    --workers "$(IFS=,; echo "${workers[*]}")" --policy "$policy" >"${dir}/router.out" 2>/dev/null &
  rpid=$!
  for _ in $(seq 600); do grep -q "listening on" "${dir}/router.out" && break; sleep 0.1; done
  router="$(sed -n 's/.*listening on \([^ ]*\).*/\1/p' "${dir}/router.out")"
  sleep 1
  "${build}/tools/gqa_loadgen/gqa-loadgen" --target "$router" --rate "$rate" --requests "$requests" \
    --warmup 4 --input-len 32 --output-len 8 --shared-prefix "${prefixes},256,0.9" --seed 11 --no-progress \
    --label "$policy" --json "${dir}/${policy}.json" >/dev/null
  python3 - "$policy" "$requests" "${dir}/${policy}.json" <<'PY'
import json, sys
policy, requests, path = sys.argv[1], sys.argv[2], sys.argv[3]
r = json.load(open(path))
def get(d, *keys):
    for k in keys:
        d = d.get(k, {}) if isinstance(d, dict) else {}
    return d
rate = get(r, "tokens", "cached_fraction")
print(f"| {policy} | {requests} | {rate:.1%} | {get(r,'ttft_ms','p50'):.0f} | "
      f"{get(r,'ttft_ms','p99'):.0f} | {get(r,'e2e_ms','p50'):.0f} |")
PY
  kill -TERM $rpid "${wpids[@]}"; wait $rpid "${wpids[@]}" 2>/dev/null || true
done
