#!/usr/bin/env bash
# What the GPU machine should run after a change to CUDA code, in one call (device time is
# scarce, and each call starts a machine): the CUDA kernel and backend tests (the backend's also
# with each switch that turns a measured speed-up off, since those paths still serve), then the
# bench of each shape (prefill of 2k, 32k and 1M tokens), and its decode again with them off.
# Everything is logged under $OUT (the device tool's output folder; else gpu-out/) as it goes, so
# a call that runs out of time still returns what it did; a summary is printed.
# On this machine first: bash tools/pack_for_device.sh; then, on the GPU machine, from the
# repository root with .carry-bundle carried:
#   bash tools/gpu_checks.sh [tests|bench] [SHAPE...]
# tests: the tests only; bench: the benches only (shapes by default mamba-130m mamba-1.4b
# mamba2-1.3b); neither: both. Each bench of a big shape takes a minute or more, so a call of
# 10 minutes holds the tests and about two shapes.
set -uo pipefail
[ -d .carry ] || tar -xJf .carry-bundle/carry.tar.xz
out=${OUT:-gpu-out}
mkdir -p "$out"
export LD_LIBRARY_PATH=$PWD/.carry/lib:/usr/local/cuda/lib64 SSM_SOURCE_DIR=$PWD
export SSM_CUDA_BACKEND=$PWD/.carry/lib/libssm_cuda_backend.so
bin=.carry/bin
what=all
case "${1:-}" in
  tests | bench) what=$1 && shift ;;
esac
shapes=("$@")
[ ${#shapes[@]} -gt 0 ] || shapes=(mamba-130m mamba-1.4b mamba2-1.3b)
# Switches that turn a measured speed-up off (docs/cuda.md): the backend's tests run again with
# each, and the decode bench with each and with both, which says what each still brings.
overlap=SSM_CUDA_OVERLAP_LAUNCHES=0
fused=SSM_CUDA_FUSED_DECODE=0

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader |
  tee "$out/gpu.txt"
if [ "$what" != bench ]; then
  "$bin/ssm_cuda_kernel_tests" >"$out/kernel_tests.txt" 2>&1
  echo "kernel tests: exit $?; $(grep -E '^\[  (PASSED|FAILED) ' "$out/kernel_tests.txt" | head -3)"
  "$bin/ssm_engine_tests" --gtest_filter='Cuda*:*Cuda*' >"$out/engine_tests.txt" 2>&1
  echo "engine tests: exit $?; $(grep -E '^\[  (PASSED|FAILED) |agreement' "$out/engine_tests.txt")"
  for switch in "$overlap" "$fused"; do
    log="$out/engine_tests_${switch%%=*}.txt"
    env "$switch" "$bin/ssm_engine_tests" --gtest_filter='Cuda*:*Cuda*' >"$log" 2>&1
    echo "engine tests, $switch: exit $?; $(grep -E '^\[  (PASSED|FAILED) ' "$log")"
  done
fi
if [ "$what" != tests ]; then
  for shape in "${shapes[@]}"; do
    # Building a random multi-billion-parameter model on the host takes a while: a generous limit.
    timeout 240 "$bin/ssm-run" bench --device cuda --random "$shape" \
      --batch-sizes 1,2,4,8,16,32,64,128,256 --decode-steps 32 \
      --per-sequence-loop 0 >>"$out/bench.txt" 2>&1 || echo "bench $shape: exit $?" | tee -a "$out/bench.txt"
    for switches in "$overlap" "$fused" "$overlap $fused"; do
      echo "with $switches:" >>"$out/bench.txt"
      # shellcheck disable=SC2086  # the switches are a word list
      env $switches timeout 120 "$bin/ssm-run" bench --device cuda --random "$shape" \
        --batch-sizes 1,2,4,8,16,32,64,128,256 --decode-steps 32 --prefill-tokens 2048 \
        --per-sequence-loop 0 >>"$out/bench.txt" 2>&1 || echo "bench $shape: exit $?" | tee -a "$out/bench.txt"
    done
  done
  grep -v '^{' "$out/bench.txt"
fi
