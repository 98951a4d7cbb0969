#!/usr/bin/env bash
# The test command: installs what is missing, builds everything, checks formatting, runs all
# tests, then the fuzz targets for a bounded time. .ci/run calls exactly this; so does the README.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install_deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build
bash tools/check_format.sh
(cd build && ctest --output-on-failure -j"$(nproc)")
bash tools/run_fuzzers.sh "${SSM_FUZZ_SECONDS:-20}"
