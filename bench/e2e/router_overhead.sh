#!/usr/bin/env bash
# Router overhead (issue #7): the same closed-loop load straight at one worker
# (gqa.v1.Worker) and through gqa-router in front of it (gqa.v1.Inference),
# in one run. The worker is `gqa-worker --fake-model` (fixed TTFT and
# inter-token delay, no model compute), so what differs is the router's hop:
# tokenization-free token prompts, detokenization, stop-string handling and
# the relay. Prints gqa-loadgen's compare table.
#   bench/e2e/router_overhead.sh [build dir] [concurrency] [seconds]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${1:-${root}/build}"
concurrency="${2:-64}"
seconds="${3:-20}"
model="${GQA_DEFAULT_MODEL:-$HOME/.cache/gqaserve/models/SmolLM2-135M-Instruct.Q4_1.gguf}"
dir="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
start() {
  local name=$1; shift
  "$@" >"${dir}/${name}.out" 2>"${dir}/${name}.err" &
  pids+=($!)
  for _ in $(seq 600); do
    if grep -q "listening on" "${dir}/${name}.out"; then
      address="$(sed -n 's/.*listening on \([^ ]*\).*/\1/p' "${dir}/${name}.out" | head -1)"; return
    fi
    sleep 0.1
  done
  echo "router_overhead.sh: ${name} did not start" >&2; cat "${dir}/${name}.err" >&2; exit 1
}
start worker "${build}/tools/gqa_worker/gqa-worker" --fake-model --model "$model" \
  --port 0 --listen 127.0.0.1 --fake-ttft-ms 50 --fake-itl-ms 20 --max-waiting 100000
worker=$address
start router "${build}/tools/gqa_router/gqa-router" --model "$model" --port 0 \
  --listen 127.0.0.1 --workers "$worker" --max-in-flight 100000
router=$address
sleep 1
echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
loadgen=("${build}/tools/gqa_loadgen/gqa-loadgen" --concurrency "$concurrency" --duration "$seconds"
         --warmup 50 --input-len 128 --output-len 64 --no-progress)
"${loadgen[@]}" --target "$worker" --api worker --label direct --json "${dir}/direct.json" >/dev/null
"${loadgen[@]}" --target "$router" --api inference --label router --json "${dir}/router.json" >/dev/null
"${build}/tools/gqa_loadgen/gqa-loadgen" compare "${dir}/direct.json" "${dir}/router.json"
cp "${dir}/direct.json" "${dir}/router.json" "${OUT_DIR:-/tmp}/" 2>/dev/null || true
