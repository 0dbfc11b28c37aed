#!/usr/bin/env bash
# The main job: set up, build gqaserve (Release) and run it on the default
# model. Today that is the KV-size plan of the default model; it grows into
# the local cluster (`gqa serve`) answering a request.
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
