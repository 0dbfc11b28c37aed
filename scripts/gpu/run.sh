#!/usr/bin/env bash
# Runs the packed GPU tests and benchmark (scripts/gpu/pack.sh) on the GPU
# machine, which has the driver and CUDA but no gRPC/Abseil/GoogleTest and no
# network. Writes 6 files under $OUT (the device tool returns 8): device.txt,
# tests.log, summary.txt, gpu-attention-bandwidth.md, gpu-decode-step.md and
# gpu-decode-torch.md (PyTorch on the same shapes, if python3 has torch). Usage, from
# the repository root on the GPU machine (device tool: carry ["gpu-carry"]):
#   bash scripts/gpu/run.sh [--quick]
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
carry=$root/gpu-carry
out=${OUT:-$root/gpu-out}
mkdir -p "$out"
# The CUDA toolkit's libraries the pack left out: the first folder holding each.
libdirs=$carry/lib
for lib in libcublas.so.13 libcublasLt.so.13 libnccl.so.2 libcudart.so.13; do
  found=$(find /usr/local/cuda/lib64/ /usr/local/cuda/targets/x86_64-linux/lib/ /usr/lib/x86_64-linux-gnu/ \
            /opt /usr/local/lib -name "$lib" 2>/dev/null | head -1)
  [[ -n "$found" ]] && libdirs=$libdirs:$(dirname "$found")
done
export LD_LIBRARY_PATH=$libdirs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
{
  nvidia-smi -L 2>&1
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv 2>&1
  echo "commit: $(cat "$carry/COMMIT.txt" 2>/dev/null)"
  echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
  for bin in "$carry"/bin/*; do echo "== ldd $(basename "$bin")"; ldd "$bin" | grep -E "not found|cuda|cublas|nccl"; done
} > "$out/device.txt" 2>&1
summary=$out/summary.txt
: > "$summary"
: > "$out/tests.log"
for t in cuda_device_test cuda_backend_test; do
  start=$(date +%s)
  timeout 300 "$carry/bin/$t" --gtest_color=no >> "$out/tests.log" 2>&1
  rc=$?
  line=$(grep -E "^\[  (PASSED|FAILED|SKIPPED) " "$out/tests.log" | tail -3 | tr '\n' ' ')
  echo "$t rc=$rc $(( $(date +%s) - start ))s $line" >> "$summary"
done
bench_args=(--out "$out/gpu-attention-bandwidth.md")
[[ "${1:-}" == "--quick" ]] && bench_args+=(--quick)
start=$(date +%s)
timeout 400 "$carry/bin/cuda_attention_bench" "${bench_args[@]}" > /dev/null 2>> "$out/tests.log"
echo "cuda_attention_bench rc=$? $(( $(date +%s) - start ))s" >> "$summary"
start=$(date +%s)
timeout 300 "$carry/bin/cuda_decode_step_bench" --out "$out/gpu-decode-step.md" > /dev/null 2>> "$out/tests.log"
echo "cuda_decode_step_bench rc=$? $(( $(date +%s) - start ))s" >> "$summary"
if python3 -c "import torch" 2>/dev/null; then
  start=$(date +%s)
  timeout 300 python3 "$root/bench/e2e/torch_decode_step.py" --out "$out/gpu-decode-torch.md" \
    > /dev/null 2>> "$out/tests.log"
  echo "torch_decode_step rc=$? $(( $(date +%s) - start ))s" >> "$summary"
fi
cat "$summary"
grep -E "FAILED|Failure" "$out/tests.log" | head -20
