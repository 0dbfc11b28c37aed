#!/usr/bin/env bash
# Gathers the GPU test and benchmark binaries, stripped, with the shared
# libraries ldd lists for them, into gpu-carry/ at the repository root
# (git-ignored) for the device tool's `carry` (64 MiB at most). Left out, as
# the GPU machine has them: glibc's libraries, the driver (libcuda,
# libnvidia-*), and the CUDA toolkit's large libraries (cuBLAS, cuBLASLt,
# NCCL), which scripts/gpu/run.sh finds there. Usage:
#   scripts/gpu/pack.sh [--model-test] [BUILD_DIR]   (default: build; builds the targets first)
# --model-test packs cuda_model_test and batched_decode (they link the
# tokenizer's ICU, too big to travel beside the rest); docs/cuda-backend.md says how the default
# model travels to the GPU machine in pieces.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
# Test binaries by their folder in the build.
tests=(worker/backend/cuda/cuda_device_test worker/backend/cuda/cuda_backend_test
       worker/parallel/nccl/parallel_nccl_communicator_test)
benches=(cuda_attention_bench cuda_decode_step_bench)
if [[ "${1:-}" == "--model-test" ]]; then
  tests=(worker/backend/cuda/cuda_model_test)
  benches=(batched_decode)  # the engine's decode tokens/s on the model, GPU and CPU
  shift
fi
build=${1:-$root/build}
dest=$root/gpu-carry
targets=()
for path in "${tests[@]}"; do targets+=("$(basename "$path")"); done
cmake --build "$build" -j2 --target "${targets[@]}" "${benches[@]+"${benches[@]}"}"
rm -rf "$dest"
mkdir -p "$dest/bin" "$dest/lib"
for path in "${tests[@]}"; do cp "$build/$path" "$dest/bin/"; done
for name in "${benches[@]+"${benches[@]}"}"; do cp "$build/bench/$name" "$dest/bin/"; done
strip "$dest"/bin/*
# What the GPU machine provides: glibc, the driver, and the CUDA toolkit's big libraries.
provided='^(libc|libm|libdl|libpthread|librt|libresolv|ld-linux-x86-64|linux-vdso|libcuda|libnvidia|libcublas|libcublasLt|libnccl)\.'
: > "$dest/NEEDS_FROM_HOST.txt"
for bin in "$dest"/bin/*; do
  ldd "$bin" | while read -r name arrow path _; do
    [[ "$arrow" == "=>" && -f "$path" ]] || continue
    if [[ "$name" =~ $provided ]]; then
      echo "$name" >> "$dest/NEEDS_FROM_HOST.txt"
    elif [[ ! -f "$dest/lib/$name" ]]; then
      cp -L "$path" "$dest/lib/$name"
    fi
  done
done
strip --strip-unneeded "$dest"/lib/* 2>/dev/null || true
# Libraries over 8 MiB (ICU's data) travel xz-compressed; run.sh unpacks them.
for lib in "$dest"/lib/*; do
  if (( $(stat -c %s "$lib") > 8 * 1024 * 1024 )); then xz -T2 -6 "$lib"; fi
done
sort -u -o "$dest/NEEDS_FROM_HOST.txt" "$dest/NEEDS_FROM_HOST.txt"
git -C "$root" rev-parse HEAD > "$dest/COMMIT.txt"
cp "$root/scripts/gpu/run.sh" "$dest/run.sh"
size=$(du -sb "$dest" | cut -f1)
echo "gpu-carry: $((size / 1024 / 1024)) MiB in $dest ($(ls "$dest/bin" | wc -l) binaries, $(ls "$dest/lib" | wc -l) libraries)"
if (( size > 64 * 1024 * 1024 )); then
  echo "gpu-carry is over the device tool's 64 MiB carry limit" >&2
  exit 1
fi
