#!/usr/bin/env bash
# Reproduces bench/results/kv-policy-quality.md: the perplexity of the default
# model (SmolLM2-135M-Instruct, Q4_1) under each KV dtype and policy.
#   chunked: windows of CTX tokens (default 1024) over the first CHUNK_TOKENS
#            (default 10240) tokens: full bf16, fp8-e4m3, fp8-e5m2, and h2o at
#            20% (0.1N + 0.1N) and 10% (0.05N + 0.05N) of N, token by token.
#   stream:  the first STREAM_TOKENS (default 16384) tokens as ONE sequence,
#            token by token: streaming 4+252, 4+1020, window 256, h2o 128+128,
#            and StreamingLLM's reference, a sliding window of 256 tokens
#            recomputed for every scored token (sampled every RECOMPUTE_EVERY
#            tokens, default 32: it costs 256 token computations per token).
# Text: every license text in /usr/share/common-licenses, concatenated in
# name order (public-domain and permissively licensed English prose).
# Not part of the test suite; about an hour on 2 cores.
#
# usage: bench/perplexity/kv_policy_quality.sh [BUILD_DIR] [chunked|stream|all]
# environment: THREADS (default 2), MODEL, WORK_DIR (default /tmp/gqa-kv-quality)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD_DIR="${1:-build}"
MODE="${2:-all}"
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR="$ROOT/$BUILD_DIR" ;; esac
GQA="$BUILD_DIR/tools/gqa/gqa"
CTX="${CTX:-1024}"
CHUNK_TOKENS="${CHUNK_TOKENS:-10240}"
STREAM_TOKENS="${STREAM_TOKENS:-16384}"
RECOMPUTE_EVERY="${RECOMPUTE_EVERY:-32}"
THREADS="${THREADS:-2}"
MODEL="${MODEL:-${GQA_CACHE_DIR:-$HOME/.cache/gqaserve}/models/SmolLM2-135M-Instruct.Q4_1.gguf}"
WORK_DIR="${WORK_DIR:-/tmp/gqa-kv-quality}"

[[ -x "$GQA" ]] || { echo "no $GQA; build it: ninja -C $BUILD_DIR gqa" >&2; exit 1; }
[[ -f "$MODEL" ]] || { echo "no $MODEL; run scripts/setup.sh" >&2; exit 1; }
mkdir -p "$WORK_DIR"
TEXT="$WORK_DIR/licenses.txt"
cat /usr/share/common-licenses/* > "$TEXT"
echo "text: $(wc -c < "$TEXT") bytes, sha256 $(sha256sum "$TEXT" | cut -d' ' -f1)"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"

run() {  # name, then gqa perplexity flags
  local name="$1"; shift
  echo "== $name: $*" >&2
  local start=$SECONDS
  "$GQA" perplexity --model "$MODEL" --file "$TEXT" --threads "$THREADS" --json "$@" \
    > "$WORK_DIR/$name.json" 2> "$WORK_DIR/$name.log"
  echo "   $((SECONDS - start)) s" >&2
}

if [[ "$MODE" == chunked || "$MODE" == all ]]; then
  H20=$((CTX / 10)); H10=$((CTX / 20))
  run chunked-full-bf16 --ctx "$CTX" --max-tokens "$CHUNK_TOKENS" --kv-dtype bf16
  run chunked-full-fp8-e4m3 --ctx "$CTX" --max-tokens "$CHUNK_TOKENS" --kv-dtype fp8-e4m3
  run chunked-full-fp8-e5m2 --ctx "$CTX" --max-tokens "$CHUNK_TOKENS" --kv-dtype fp8-e5m2
  run chunked-h2o-20 --ctx "$CTX" --max-tokens "$CHUNK_TOKENS" --kv-dtype bf16 \
    --kv-policy "h2o:$H20+$H20"
  run chunked-h2o-10 --ctx "$CTX" --max-tokens "$CHUNK_TOKENS" --kv-dtype bf16 \
    --kv-policy "h2o:$H10+$H10"
fi
if [[ "$MODE" == stream || "$MODE" == all ]]; then
  common=(--stream --max-tokens "$STREAM_TOKENS" --kv-dtype bf16)
  run stream-streaming-4+252 "${common[@]}" --kv-policy streaming:4+252
  run stream-streaming-4+1020 "${common[@]}" --kv-policy streaming:4+1020
  run stream-window-256 "${common[@]}" --kv-policy window:256
  run stream-h2o-128+128 "${common[@]}" --kv-policy h2o:128+128
  run stream-recompute-256 "${common[@]}" --recompute 256 --sample-every "$RECOMPUTE_EVERY"
fi

echo
echo "| run | policy | kv dtype | tokens scored | perplexity | seconds |"
echo "|---|---|---|---:|---:|---:|"
for f in "$WORK_DIR"/*.json; do
  jq -r --arg n "$(basename "$f" .json)" \
    '"| \($n) | \(.kv_policy) | \(.kv_dtype) | \(.tokens) | \(.perplexity * 100 | round / 100) | \(.seconds | round) |"' "$f"
done
echo
echo "Per 2048-token segment of the stream (perplexity):"
for f in "$WORK_DIR"/stream-*.json; do
  [[ -f "$f" ]] || continue
  jq -r --arg n "$(basename "$f" .json)" \
    '"| \($n) | " + ([.segments[] | (.perplexity * 100 | round / 100 | tostring)] | join(" | ")) + " |"' "$f"
done
