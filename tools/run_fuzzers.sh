#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/) with clang, AddressSanitizer and
# UndefinedBehaviorSanitizer into build-fuzz/ and runs each for a bounded time; a finding fails
# the script and leaves its input in build-fuzz/crash-*.
#   tools/run_fuzzers.sh [SECONDS]   (the tokenizer for SECONDS, default 20; the others for half)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
out=build-fuzz
mkdir -p "$out/obj" "$out/corpus"
launcher=$(command -v ccache || true)
flags=(-std=c++20 -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
       -I. "-DSSM_FIXTURES_DIR=\"$PWD/tests/fixtures\"")
read -r -a pkg_flags <<< "$(pkg-config --cflags libpcre2-8 libutf8proc)"
read -r -a libs <<< "$(pkg-config --libs libpcre2-8 libutf8proc absl_status absl_statusor \
  absl_strings absl_synchronization absl_flat_hash_map)"

objects=()
for src in engine/tokenizer/*.cc tests/fuzz/tokenizer_fuzzer.cc; do
  obj="$out/obj/$(echo "$src" | tr / _).o"
  $launcher clang++ "${flags[@]}" "${pkg_flags[@]}" -c "$src" -o "$obj"
  objects+=("$obj")
done
clang++ -fsanitize=fuzzer,address,undefined "${objects[@]}" -o "$out/tokenizer_fuzzer" "${libs[@]}"

# A target built from engine sources and its fuzzer: $1 the target's name (tests/fuzz/$1_fuzzer.cc),
# then the engine files' stems, then "--" and the libraries it needs.
engine_target() {
  local name=$1 objects=()
  shift
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    $launcher clang++ "${flags[@]}" -c "engine/$1.cc" -o "$out/obj/engine_$1.o"
    objects+=("$out/obj/engine_$1.o")
    shift
  done
  [ $# -gt 0 ] && shift
  $launcher clang++ "${flags[@]}" -c "tests/fuzz/${name}_fuzzer.cc" -o "$out/obj/${name}_fuzzer.o"
  clang++ -fsanitize=fuzzer,address,undefined "${objects[@]}" "$out/obj/${name}_fuzzer.o" \
    -o "$out/${name}_fuzzer" "$@"
}
read -r -a absl_libs <<< "$(pkg-config --libs absl_status absl_statusor absl_strings)"
engine_target token_draw token_draw
engine_target session_codec session_codec -- "${absl_libs[@]}" $(pkg-config --libs zlib)
engine_target safetensors safetensors dtype -- "${absl_libs[@]}"
engine_target model_config model_config -- "${absl_libs[@]}"
engine_target stop_strings stop_strings

echo "run_fuzzers: tokenizer_fuzzer for ${seconds}s"
"$out/tokenizer_fuzzer" -max_total_time="$seconds" -max_len=4096 -rss_limit_mb=6144 \
  -artifact_prefix="$out/" -print_final_stats=1 \
  "$out/corpus" tests/fuzz/seeds 2>&1 | tail -n 12
for name in token_draw session_codec safetensors model_config stop_strings; do
  echo "run_fuzzers: ${name}_fuzzer for $((seconds / 2))s"
  mkdir -p "$out/corpus_$name"
  seeds=()
  [ -d "tests/fuzz/${name}_seeds" ] && seeds=("tests/fuzz/${name}_seeds")
  "$out/${name}_fuzzer" -max_total_time="$((seconds / 2))" -max_len=1024 -rss_limit_mb=2048 \
    -artifact_prefix="$out/" -print_final_stats=1 "$out/corpus_$name" "${seeds[@]}" 2>&1 |
    tail -n 12
done
