#!/usr/bin/env bash
# Reproduces bench/results/mqa-conversion.md: converts the default model
# (SmolLM2-135M-Instruct, Q4_1, 3 KV heads) to f32 keeping its 3 KV heads and
# to MQA (--kv-heads 1, mean-pooled, f32), then measures the perplexity of all
# three on GPL-3 + Apache-2.0 from /usr/share/common-licenses (~9.9k tokens).
# Takes about 10-20 minutes on 2 busy cores. Not part of the test suite.
#
# usage: bench/perplexity/mqa_conversion.sh [BUILD_DIR]      (default: build)
# environment: CTX (window tokens, default 1024), THREADS (default 2),
#   MODEL (default: the default model), WORK_DIR (default /tmp/gqa-mqa-conversion)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD_DIR="${1:-build}"
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR="$ROOT/$BUILD_DIR" ;; esac
GQA="$BUILD_DIR/tools/gqa/gqa"
CTX="${CTX:-1024}"
THREADS="${THREADS:-2}"
MODEL="${MODEL:-${GQA_CACHE_DIR:-$HOME/.cache/gqaserve}/models/SmolLM2-135M-Instruct.Q4_1.gguf}"
WORK_DIR="${WORK_DIR:-/tmp/gqa-mqa-conversion}"

[[ -x "$GQA" ]] || { echo "no $GQA; build it: ninja -C $BUILD_DIR gqa" >&2; exit 1; }
[[ -f "$MODEL" ]] || { echo "no $MODEL; run scripts/setup.sh" >&2; exit 1; }
mkdir -p "$WORK_DIR"
TEXT="$WORK_DIR/text.txt"
cat /usr/share/common-licenses/GPL-3 /usr/share/common-licenses/Apache-2.0 > "$TEXT"
echo "text: $(wc -c < "$TEXT") bytes, sha256 $(sha256sum "$TEXT" | cut -d' ' -f1)"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"

"$GQA" convert --dtype f32 "$MODEL" "$WORK_DIR/smollm2-f32.gguf"
"$GQA" convert --kv-heads 1 --dtype f32 "$MODEL" "$WORK_DIR/smollm2-mqa-f32.gguf"

run() {  # name model
  echo "== $1 (ctx $CTX)" >&2
  "$GQA" perplexity --model "$2" --file "$TEXT" --ctx "$CTX" --threads "$THREADS" --json \
    > "$WORK_DIR/$1.ctx$CTX.json"
}
run q4_1 "$MODEL"
run f32 "$WORK_DIR/smollm2-f32.gguf"
run mqa-f32 "$WORK_DIR/smollm2-mqa-f32.gguf"

echo "| model | KV heads | ctx | windows | tokens scored | mean NLL | perplexity | seconds |"
echo "|---|---|---|---|---|---|---|---|"
for name in q4_1 f32 mqa-f32; do
  heads=3; [[ "$name" == mqa-f32 ]] && heads=1
  jq -r --arg n "$name" --arg h "$heads" \
    '"| \($n) | \($h) | \(.ctx) | \(.windows) | \(.tokens) | \(.nll * 10000 | round / 10000) | \(.perplexity * 100 | round / 100) | \(.seconds | round) |"' \
    "$WORK_DIR/$name.ctx$CTX.json"
done
