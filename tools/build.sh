#!/usr/bin/env bash
# Configures and builds into build/ (Release, Ninja): the one build command that tools/test.sh
# (CI), tools/quickstart.sh and the Dockerfile share. Arguments go to CMake's configure step
# (e.g. -DSSM_ENABLE_CUDA=OFF); SSM_BUILD_TARGETS, if set, names the targets to build.
set -euo pipefail
cd "$(dirname "$0")/.."
# Paths relative to the checkout in ccache's keys, so a fresh clone elsewhere reuses the cache.
export CCACHE_BASEDIR="$PWD"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
# shellcheck disable=SC2086  # the targets are a word list
cmake --build build ${SSM_BUILD_TARGETS:+--target $SSM_BUILD_TARGETS}
