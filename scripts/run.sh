#!/usr/bin/env bash
# The main job: set up, build gqaserve (Release) and run it on the default
# model: its KV-size plan, then a local cluster (`gqa serve`: a kvstore when
# built, two workers and a router on loopback) answering a request over gRPC
# (`gqa generate --server`), then the cluster is stopped.
#   scripts/run.sh ["prompt"]          scripts/run.sh --keep   (leave it running)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
source "${here}/lib/common.sh"

keep=0
if [[ "${1:-}" == "--keep" ]]; then keep=1; shift; fi

"${here}/setup.sh"
build="${root}/build"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$(nproc)" --target gqa gqa-worker gqa-router \
  $(grep -q gqa_kvstore "${root}/tools/CMakeLists.txt" && echo gqa-kvstore)
gqa="${build}/tools/gqa/gqa"

model="$(default_model_path)"
log "KV memory of the default model (${model}):"
"$gqa" kv-size "$model" --kv-dtype bf16,fp8-e4m3 --mem 1GiB

if ((keep)); then
  log "local cluster on the default model; Ctrl-C stops it"
  exec "$gqa" serve --model "$model" --port 50051
fi

out="$(mktemp)"
"$gqa" serve --model "$model" --port 0 --workers 2 >"$out" &
serve_pid=$!
trap 'kill -TERM $serve_pid 2>/dev/null; wait $serve_pid 2>/dev/null; rm -f "$out"' EXIT
for _ in $(seq 600); do
  grep -q "gqaserve is up" "$out" && break
  kill -0 $serve_pid 2>/dev/null || { log "gqa serve failed"; exit 1; }
  sleep 0.2
done
cat "$out"
address="$(sed -n 's/^gqaserve is up: router \([^,]*\),.*/\1/p' "$out")"
[[ -n "$address" ]] || { log "gqa serve did not come up"; exit 1; }
prompt="${1:-Explain in two sentences why grouped-query attention makes the KV cache smaller.}"
log "asking the router at ${address}: ${prompt}"
"$gqa" generate --server "$address" --max-tokens 96 "$prompt"
log "stopping the cluster"
