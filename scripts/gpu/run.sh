#!/usr/bin/env bash
# Runs the packed GPU tests and benchmarks (scripts/gpu/pack.sh) on the GPU
# machine, which has the driver and CUDA but no gRPC/Abseil/GoogleTest and no
# network. Each test suite runs in its own process, so a kernel fault (which
# poisons its CUDA context) fails that suite only. Writes at most 7 files
# under $OUT (the device tool returns 8): device.txt, tests.log, summary.txt,
# gpu-attention-bandwidth.md, gpu-decode-step.md, gpu-decode-torch.md
# (PyTorch on the same shapes, if python3 has torch) and, with --sanitize,
# sanitizer.log. Usage, from the repository root on the GPU machine
# (device tool: carry ["gpu-carry"]):
#   bash scripts/gpu/run.sh [--quick] [--sanitize] [--tests-only]
#     --quick      the attention benchmark on 2 contexts x 2 batches only
#     --sanitize   also run a few attention cases under compute-sanitizer memcheck
#     --tests-only skip the benchmarks
#   bash scripts/gpu/run.sh --model-test MODEL.gguf
#     runs the packed cuda_model_test (pack.sh --model-test) on that model file:
#     BackendLlama (CudaModelTest) and the engine itself on the GPU
#     (CudaEngineTest: Model, KV cache and generator vs the CPU backend, and
#     in an NCCL group of one); then batched_decode's tokens/s on the GPU and
#     the CPU into gpu-engine-decode.jsonl, and PyTorch on the same shape
#     (torch_decode_step.py --shape smollm2-135m) into gpu-engine-torch.md
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
carry=${GQA_GPU_CARRY:-$root/gpu-carry}  # where pack.sh's folder is on this machine
out=${OUT:-$root/gpu-out}
quick=0 sanitize=0 tests_only=0
# pack.sh compressed its largest libraries: unpack them beside the others'
# search path (the carry itself may be read-only).
unpacked=/tmp/gqa-gpu-carry-lib
if compgen -G "$carry/lib/*.xz" > /dev/null; then
  mkdir -p "$unpacked"
  for lib in "$carry"/lib/*.xz; do
    name=$(basename "$lib" .xz)
    [[ -f "$unpacked/$name" ]] || xz -dc "$lib" > "$unpacked/$name"
  done
fi
if [[ "${1:-}" == "--model-test" ]]; then
  mkdir -p "$out"
  export LD_LIBRARY_PATH=$unpacked:$carry/lib:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  for lib in libcublas.so.13 libnccl.so.2; do
    found=$(find /usr/local/cuda/lib64/ /opt /usr/local/lib -name "$lib" 2>/dev/null | head -1)
    [[ -n "$found" ]] && LD_LIBRARY_PATH=$LD_LIBRARY_PATH:$(dirname "$found")
  done
  GQA_DEFAULT_MODEL=$2 timeout 400 "$carry/bin/cuda_model_test" --gtest_color=no \
    2>&1 | tee "$out/model-test.log"
  rc=${PIPESTATUS[0]}
  # The engine's decode tokens/s on this model (bench/e2e/batched_decode), on
  # the GPU and, for comparison, on this machine's CPU.
  if [[ -x "$carry/bin/batched_decode" ]]; then
    {
      timeout 120 "$carry/bin/batched_decode" --model "$2" --backend cuda --kv-bytes 4GiB \
        --concurrency 1,8,32,64 --prompt-tokens 64 --tokens 64
      timeout 90 "$carry/bin/batched_decode" --model "$2" --backend cpu --threads 16 \
        --kv-bytes 4GiB --concurrency 1,8 --prompt-tokens 64 --tokens 64
    } > "$out/gpu-engine-decode.jsonl" 2>> "$out/model-test.log"
  fi
  # PyTorch on the same shape and machine, for the engine's figures above.
  if python3 -c "import torch" 2>/dev/null; then
    timeout 120 python3 "$root/bench/e2e/torch_decode_step.py" --shape smollm2-135m \
      --out "$out/gpu-engine-torch.md" > /dev/null 2>> "$out/model-test.log"
  fi
  exit "$rc"
fi
for arg in "$@"; do
  case $arg in
    --quick) quick=1 ;;
    --sanitize) sanitize=1 ;;
    --tests-only) tests_only=1 ;;
    *) echo "unknown flag $arg" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
# The CUDA toolkit's libraries the pack left out: the first folder holding each.
libdirs=$unpacked:$carry/lib
for lib in libcublas.so.13 libcublasLt.so.13 libnccl.so.2 libcudart.so.13; do
  found=$(find /usr/local/cuda/lib64/ /usr/local/cuda/targets/x86_64-linux/lib/ \
            /usr/lib/x86_64-linux-gnu/ /opt /usr/local/lib -name "$lib" 2>/dev/null | head -1)
  [[ -n "$found" ]] && libdirs=$libdirs:$(dirname "$found")
done
export LD_LIBRARY_PATH=$libdirs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
{
  nvidia-smi -L 2>&1
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem \
    --format=csv 2>&1
  echo "commit: $(cat "$carry/COMMIT.txt" 2>/dev/null)"
  echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
  for bin in "$carry"/bin/*; do
    echo "== ldd $(basename "$bin")"
    ldd "$bin" | grep -E "not found|cuda|cublas|nccl"
  done
} > "$out/device.txt" 2>&1
summary=$out/summary.txt
log=$out/tests.log
: > "$summary"
: > "$log"
# Runs one test process and appends "name rc seconds passed/failed" to the summary.
run_tests() {
  local name=$1
  shift
  local start rc
  start=$(date +%s)
  echo "===== $name" >> "$log"
  timeout 300 "$@" --gtest_color=no >> "$log" 2>&1
  rc=$?
  local counts
  counts=$(tac "$log" | sed '/^===== /q' | grep -oE "^\[ +(PASSED|FAILED|SKIPPED) +\] [0-9]+" \
             | tr '\n' ' ')
  echo "$name rc=$rc $(( $(date +%s) - start ))s $counts" >> "$summary"
}
run_tests cuda_device_test "$carry/bin/cuda_device_test"
run_tests parallel_nccl_communicator_test "$carry/bin/parallel_nccl_communicator_test"
for suite in $("$carry/bin/cuda_backend_test" --gtest_list_tests | grep -E '^[A-Za-z0-9_/]+\.$' | tr -d '.'); do
  run_tests "$suite" "$carry/bin/cuda_backend_test" --gtest_filter="$suite.*"
done
if (( sanitize )); then
  sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
  timeout 400 "$sanitizer" --tool memcheck --print-limit 20 "$carry/bin/cuda_backend_test" \
    --gtest_filter='*Attention*/bf16:*Attention*/fp8_e5m2:*CudaKvTest*/fp8_e4m3:CudaBackendTest.*' \
    > "$out/sanitizer.log" 2>&1
  echo "compute-sanitizer memcheck rc=$? $(grep -c 'Invalid\|ERROR SUMMARY' "$out/sanitizer.log") lines of errors/summary" >> "$summary"
fi
if (( ! tests_only )); then
  bench_args=(--out "$out/gpu-attention-bandwidth.md")
  (( quick )) && bench_args+=(--quick)
  start=$(date +%s)
  timeout 400 "$carry/bin/cuda_attention_bench" "${bench_args[@]}" > /dev/null 2>> "$log"
  echo "cuda_attention_bench rc=$? $(( $(date +%s) - start ))s" >> "$summary"
  start=$(date +%s)
  timeout 300 "$carry/bin/cuda_decode_step_bench" --out "$out/gpu-decode-step.md" \
    > /dev/null 2>> "$log"
  echo "cuda_decode_step_bench rc=$? $(( $(date +%s) - start ))s" >> "$summary"
  if python3 -c "import torch" 2>/dev/null; then
    start=$(date +%s)
    timeout 300 python3 "$root/bench/e2e/torch_decode_step.py" --out "$out/gpu-decode-torch.md" \
      > /dev/null 2>> "$log"
    echo "torch_decode_step rc=$? $(( $(date +%s) - start ))s" >> "$summary"
  fi
fi
cat "$summary"
grep -E "^\[  FAILED  \]|Failure|error" "$log" | head -20 || true  # no match is no failure
# Exit 1 when any suite or benchmark did not end with rc=0.
if grep -qE " rc=[1-9]" "$summary"; then exit 1; fi
