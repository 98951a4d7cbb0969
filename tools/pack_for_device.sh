#!/usr/bin/env bash
# Packs what the GPU machine needs to run our GPU tests and benchmarks into .carry/ (ignored by
# git): what tools/collect_runtime.sh gathers for a runtime image, plus the engine and CUDA
# kernel test programs.
# OpenSSL is left out: the GPU machine has it, and without it the carried tree stays under the
# 64 MiB a device call takes. Then, on that machine, from the repository root:
#   export LD_LIBRARY_PATH=$PWD/.carry/lib:/usr/local/cuda/lib64 SSM_SOURCE_DIR=$PWD \
#          SSM_CUDA_BACKEND=$PWD/.carry/lib/libssm_cuda_backend.so
#   .carry/bin/ssm_engine_tests --gtest_filter='Cuda*:*Cuda*'
#   .carry/bin/ssm_cuda_kernel_tests
#   .carry/bin/ssm-run bench --device cuda --random mamba-130m
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --build build --target ssm_engine_tests ssm_cuda_kernel_tests ssm-run ssm-server ssm-client \
  ssm_cuda_backend
rm -rf .carry/bin .carry/lib
bash tools/collect_runtime.sh build .carry build/tests/ssm_engine_tests \
  build/tests/ssm_cuda_kernel_tests
rm -f .carry/lib/libssl.so* .carry/lib/libcrypto.so*
du -sh .carry
