#!/usr/bin/env bash
# The test command: installs what is missing, builds everything, checks formatting, runs all
# tests, then the fuzz targets for a bounded time. .ci/run calls exactly this; so does the README.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install_deps.sh
bash tools/build.sh
bash tools/check_format.sh
python3 tools/check_deploy.py
(cd build && ctest --output-on-failure -j"$(nproc)")
bash tools/run_fuzzers.sh "${SSM_FUZZ_SECONDS:-20}"
