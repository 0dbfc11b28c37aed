#!/usr/bin/env bash
# The main job: set up, build gqaserve (Release) and run it on the default
# model: its KV-size plan, then an offline generation through its chat
# template. It grows into the local cluster (`gqa serve`) answering a request.
#   scripts/run.sh ["prompt"]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
source "${here}/lib/common.sh"

"${here}/setup.sh"
build="${root}/build"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$(nproc)" --target gqa

model="$(default_model_path)"
log "KV memory of the default model (${model}):"
"${build}/tools/gqa/gqa" kv-size "$model" --kv-dtype bf16,fp8-e4m3 --mem 1GiB
prompt="${1:-Explain in two sentences why grouped-query attention makes the KV cache smaller.}"
log "offline generation on the CPU: ${prompt}"
"${build}/tools/gqa/gqa" generate --model "$model" --max-tokens 96 "$prompt"
