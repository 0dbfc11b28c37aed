#!/usr/bin/env bash
# Builds and runs every test, the way CI does (.ci/run calls this script):
#   1. GCC Release, -Wall -Wextra -Werror, plus the CUDA targets when nvcc is
#      present; runs every test (GPU tests skip without a device).
#   2. clang-14 with ASan+UBSan and -Wthread-safety, CUDA off; runs the unit
#      tests (not those on the default model) and replays each fuzz target's
#      corpus, then fuzzes each target for GQA_FUZZ_SECONDS (default 20).
# Each stage prints its time.
#
#   scripts/test.sh [--gcc-only | --sanitizers-only]
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
source "${here}/lib/common.sh"

run_gcc=1
run_sanitizers=1
for arg in "$@"; do
  case "$arg" in
    --gcc-only) run_sanitizers=0 ;;
    --sanitizers-only) run_gcc=0 ;;
    *) echo "test.sh: unknown argument '$arg' (expected --gcc-only or --sanitizers-only)" >&2; exit 2 ;;
  esac
done

jobs=$(nproc)
export GQA_DEFAULT_MODEL="$(default_model_path)"
export CTEST_OUTPUT_ON_FAILURE=1
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)

total_start=$(date +%s)
timed "setup" "${here}/setup.sh" || exit 1

status=0
if ((run_gcc)); then
  build="${root}/build"
  timed "gcc: configure" cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DGQA_WERROR=ON "${launcher[@]}" >/dev/null || exit 1
  timed "gcc: build" cmake --build "$build" -j "$jobs" || exit 1
  timed "gcc: tests" ctest --test-dir "$build" -j "$jobs" --timeout 600 || status=1
fi

if ((run_sanitizers)); then
  build="${root}/build-asan"
  timed "clang asan+ubsan: configure" env CC=clang-14 CXX=clang++-14 \
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DGQA_WITH_CUDA=OFF -DGQA_WERROR=ON -DGQA_SANITIZE=ON -DGQA_THREAD_SAFETY=ON -DGQA_FUZZ=ON \
    -DGQA_FUZZ_SECONDS="${GQA_FUZZ_SECONDS:-20}" "${launcher[@]}" >/dev/null || exit 1
  timed "clang asan+ubsan: build" cmake --build "$build" -j "$jobs" || exit 1
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  timed "clang asan+ubsan: unit tests and fuzz corpora" \
    ctest --test-dir "$build" -j "$jobs" --timeout 600 -LE "model|gpu" || status=1
fi

log "all stages took $(($(date +%s) - total_start)) s; $([[ $status -eq 0 ]] && echo PASSED || echo FAILED)"
exit $status
