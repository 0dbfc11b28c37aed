#!/usr/bin/env bash
# A shared-prefix workload under each routing policy (issue #7): `gqa serve`
# with two real workers on the default model (prefix caching on, no kvstore
# sharing so that only the routing decides reuse), driven by gqa-loadgen with
# 4 system prompts of 256 tokens shared by 90% of the requests. Prints, per
# policy, the prefix-cache hit rate (cached prompt tokens / prompt tokens)
# and TTFT.
#   bench/e2e/routing_policies.sh [build dir] [requests] [rate]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${1:-${root}/build}"
requests="${2:-60}"
rate="${3:-1}"
model="${GQA_DEFAULT_MODEL:-$HOME/.cache/gqaserve/models/SmolLM2-135M-Instruct.Q4_1.gguf}"
dir="$(mktemp -d)"
echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "| policy | requests | prefix-cache hit rate | TTFT p50 (ms) | TTFT p99 (ms) | E2E p50 (ms) |"
echo "|---|---|---|---|---|---|"
for policy in round-robin least-loaded prefix-affinity kv-aware; do
  out="${dir}/${policy}.out"
  # Workers without --kvstore: gqa serve would share prefixes through it.
  workers=()
  wpids=()
  for i in 1 2; do
    "${build}/tools/gqa_worker/gqa-worker" --model "$model" --port 0 --listen 127.0.0.1 \
      --threads 1 --kv-bytes 256MiB >"${dir}/w${i}.out" 2>/dev/null &
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
    --warmup 4 --input-len 32 --output-len 8 --shared-prefix 4,256,0.9 --seed 11 --no-progress \
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
