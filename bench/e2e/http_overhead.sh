#!/usr/bin/env bash
# HTTP front overhead (issue #12): gqa-router with --http-port in front of one
# `gqa-worker --fake-model` (fixed TTFT and inter-token delay, no model
# compute, the default model's identity), so what differs between the two
# APIs is the front: JSON parsing, the in-process gRPC hop, SSE framing.
# Runs http_overhead.py (same Python client design for both APIs).
#   [GQA_FAKE_TTFT_MS=50] [GQA_FAKE_ITL_MS=20] bench/e2e/http_overhead.sh [build dir] [streams] [seconds]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${1:-${root}/build}"
streams="${2:-16}"
seconds="${3:-20}"
model="${GQA_DEFAULT_MODEL:-$HOME/.cache/gqaserve/models/SmolLM2-135M-Instruct.Q4_1.gguf}"
dir="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
wait_listening() {
  for _ in $(seq 600); do
    grep -q "listening on" "${dir}/$1.out" && return
    sleep 0.1
  done
  echo "http_overhead.sh: $1 did not start" >&2; cat "${dir}/$1.err" >&2; exit 1
}
"${build}/tools/gqa_worker/gqa-worker" --fake-model --model "$model" --port 0 \
  --listen 127.0.0.1 --fake-ttft-ms "${GQA_FAKE_TTFT_MS:-50}" --fake-itl-ms "${GQA_FAKE_ITL_MS:-20}" \
  --max-waiting 100000 \
  >"${dir}/worker.out" 2>"${dir}/worker.err" &
pids+=($!)
wait_listening worker
worker="$(sed -n 's/.*listening on \([^ ]*\).*/\1/p' "${dir}/worker.out" | head -1)"
"${build}/tools/gqa_router/gqa-router" --model "$model" --port 0 --listen 127.0.0.1 \
  --workers "$worker" --max-in-flight 100000 --http-port 0 \
  >"${dir}/router.out" 2>"${dir}/router.err" &
pids+=($!)
wait_listening router
router="$(sed -n 's/.*listening on \([^ ]*\).*/\1/p' "${dir}/router.out" | head -1)"
http="$(sed -n 's/.*http on \([^ )]*\).*/\1/p' "${dir}/router.out" | head -1)"
sleep 1
echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
/usr/bin/python3 "${root}/bench/e2e/http_overhead.py" "$router" "$http" "${root}/proto" \
  "$streams" "$seconds"
