#!/usr/bin/env bash
# TTFT with and without a cached shared prefix in the kvstore (issue #6), and
# the failover resume time with and without it (issue #7): starts a
# gqa-kvstore, two workers sharing it (the publisher and the measured one) and
# a third without it, all on the default model, then runs prefix_ttft.
#   bench/e2e/prefix_ttft.sh [build dir] [prefix tokens] [kv dtype]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${1:-${root}/build}"
tokens="${2:-1024}"
dtype="${3:-f32}"
model="${GQA_DEFAULT_MODEL:-$HOME/.cache/gqaserve/models/SmolLM2-135M-Instruct.Q4_1.gguf}"
dir="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT

# Starts a server in the background (its pid kept for cleanup); sets
# $address to its "listening on" address.
start() {
  local name=$1; shift
  "$@" >"${dir}/${name}.out" 2>"${dir}/${name}.err" &
  pids+=($!)
  for _ in $(seq 600); do
    if grep -q "listening on" "${dir}/${name}.out"; then
      address="$(sed -n 's/.*listening on \([^ ]*\).*/\1/p' "${dir}/${name}.out" | head -1)"
      return
    fi
    sleep 0.1
  done
  echo "prefix_ttft.sh: ${name} did not start" >&2; cat "${dir}/${name}.err" >&2; exit 1
}

start kvstore "${build}/tools/gqa_kvstore/gqa-kvstore" --port 0 --listen 127.0.0.1 \
  --memory-bytes 2GiB
kvstore=$address
worker=("${build}/tools/gqa_worker/gqa-worker" --model "$model" --port 0 --listen 127.0.0.1
        --threads 1 --kv-bytes 512MiB --kv-dtype "$dtype")
start publisher "${worker[@]}" --kvstore "$kvstore"
publisher=$address
start with "${worker[@]}" --kvstore "$kvstore"
with=$address
start without "${worker[@]}"
without=$address
echo "kvstore ${kvstore}; workers: publisher ${publisher}, with kvstore ${with}, without ${without}"
echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); KV ${dtype}"
"${build}/bench/prefix_ttft" --publisher "$publisher" --with-kvstore "$with" \
  --without-kvstore "$without" --prefix-tokens "$tokens" --repeats 5
