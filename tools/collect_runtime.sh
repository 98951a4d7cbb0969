#!/usr/bin/env bash
# Gathers what a runtime image needs from a build: the binaries (and any EXTRA_BINARY, e.g. a
# test program) into DEST/bin, the CUDA backend library into DEST/lib, and every shared library
# they load that the base image does not have (the C runtime and CUDA's own libraries, which the
# CUDA runtime image provides, stay out).
#   tools/collect_runtime.sh BUILD_DIR DEST [EXTRA_BINARY...]
set -euo pipefail
build=$1
dest=$2
shift 2
mkdir -p "$dest/bin" "$dest/lib"
cp "$build/server/ssm-server" "$build/server/ssm-run" "$build/client/ssm-client" "$@" "$dest/bin/"
if [ -f "$build/engine/libssm_cuda_backend.so" ]; then
  cp "$build/engine/libssm_cuda_backend.so" "$dest/lib/"
fi
strip "$dest"/bin/* "$dest"/lib/*.so 2>/dev/null || true
ldd "$dest"/bin/* "$dest"/lib/*.so 2>/dev/null | awk '/=> \// {print $3}' | sort -u |
  grep -v -E '/(libc|libm|libmvec|libstdc\+\+|libgcc_s|ld-linux[^/]*|libpthread|libdl|librt)\.so|/usr/local/cuda|/libcu(blas|blasLt|dart)\.so' |
  xargs -r -I{} cp -L {} "$dest/lib/"
