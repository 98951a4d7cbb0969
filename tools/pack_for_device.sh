#!/usr/bin/env bash
# Packs what the GPU machine needs to run our GPU tests and benchmarks into .carry/ (ignored by
# git): what tools/collect_runtime.sh gathers for a runtime image, plus the engine and CUDA
# kernel test programs.
# OpenSSL is left out: the GPU machine has it. A device call takes at most 64 MiB of tree, so
# what travels is .carry-bundle/carry.tar.xz (carry ".carry-bundle"). Then, on that machine, from
# the repository root:
#   tar -xJf .carry-bundle/carry.tar.xz
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
mkdir -p .carry-bundle
XZ_OPT=-T0 tar -cJf .carry-bundle/carry.tar.xz .carry
du -sh .carry .carry-bundle
