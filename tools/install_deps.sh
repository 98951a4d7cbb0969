#!/usr/bin/env bash
# Installs every system package ssm-serve needs to build and test, from the distribution's archive.
# The README, .ci/run and the Dockerfile all call this one script, so there is one list to keep.
# Verified on Debian 12 (bookworm). Written for Ubuntu 24.04 (noble), the base of the CUDA 13
# images, too, where only the sanitizer runtime's version differs; not verified there (see
# docs/deploy.md).
set -euo pipefail

# The compiler-rt package follows the distribution's default clang.
. /etc/os-release
case "${VERSION_CODENAME:-}" in
  bookworm) clang_rt=libclang-rt-14-dev ;;
  noble) clang_rt=libclang-rt-18-dev ;;
  *)
    echo "install_deps: ${PRETTY_NAME:-this system} is not one the project knows;" \
      "Debian 12 and Ubuntu 24.04 are" >&2
    exit 1
    ;;
esac

packages=(
  build-essential cmake ninja-build ccache pkg-config git python3 openssl
  clang-format
  clang "$clang_rt"         # libFuzzer and sanitizers for tools/run_fuzzers.sh
  libblis-openmp-dev         # CPU matmuls (BLIS); the OpenMP build shares our thread pool
  libgtest-dev libgmock-dev  # unit tests
  libspdlog-dev libfmt-dev   # logging
  nlohmann-json3-dev         # config.json, safetensors headers, fixtures
  zlib1g-dev                 # CRC-32 of exported sessions and model fingerprints
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  prometheus-cpp-dev         # metrics exposer
  libpcre2-dev libutf8proc-dev  # tokenizer: Unicode regex and NFC
  libcli11-dev               # command lines of ssm-run, ssm-server, ssm-client
  python3-yaml               # tools/check_deploy.py reads the deployment files
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "install_deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
