#!/usr/bin/env bash
# All CPU tests built with AddressSanitizer and UndefinedBehaviorSanitizer (no CUDA) in
# build-asan/, run once: what they found so far was a test walking a destroyed temporary and a
# teardown race in the load tester's last callbacks. Not part of CI (a cold sanitized build
# takes ~20 minutes on 2 cores); run it after changes to threads, callbacks or lifetimes.
#   tools/sanitized_tests.sh [CTEST ARGS...]
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-asan -G Ninja -DSSM_ENABLE_CUDA=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
  -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
cmake --build build-asan
# c-ares (gRPC's DNS resolver) leaks a few bytes per process by design: not ours to report.
export LSAN_OPTIONS="suppressions=$PWD/tools/lsan_suppressions.txt:print_suppressions=0"
export ASAN_OPTIONS=abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd build-asan && ctest --output-on-failure -j"$(nproc)" "$@")
