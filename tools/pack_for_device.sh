#!/usr/bin/env bash
# Packs what the GPU machine needs to run our GPU tests and benchmarks into .carry/ (ignored by
# git): the built binaries, the CUDA backend library, and the Debian shared libraries they use
# that the GPU machine's Ubuntu lacks. CUDA's own libraries are not packed: the GPU machine has
# them. Then, on that machine, from the repository root:
#   export LD_LIBRARY_PATH=$PWD/.carry/lib:/usr/local/cuda/lib64 SSM_SOURCE_DIR=$PWD \
#          SSM_CUDA_BACKEND=$PWD/.carry/bin/libssm_cuda_backend.so
#   .carry/bin/ssm_engine_tests --gtest_filter='Cuda*:*Cuda*'
#   .carry/bin/ssm-run bench --device cuda --random mamba-130m
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --build build --target ssm_engine_tests ssm-run ssm-server ssm-client ssm_cuda_backend
rm -rf .carry/bin .carry/lib
mkdir -p .carry/bin .carry/lib
cp build/tests/ssm_engine_tests build/server/ssm-run build/server/ssm-server \
  build/client/ssm-client build/engine/libssm_cuda_backend.so .carry/bin/
strip .carry/bin/*
# glibc, libstdc++ and OpenSSL are on the GPU machine (newer, compatible); CUDA's come from there.
ldd .carry/bin/* | awk '/=> \// {print $3}' | sort -u |
  grep -v -E '/(libc|libm|libmvec|libstdc\+\+|libgcc_s|ld-linux[^/]*|libpthread|libdl|librt|libcrypto|libssl)\.so|/usr/local/cuda' |
  xargs -I{} cp -L {} .carry/lib/
du -sh .carry
