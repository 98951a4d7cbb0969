#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (AddressSanitizer + UndefinedBehaviorSanitizer) into
# build-fuzz/ and runs each for a bounded time.
#   tools/run_fuzzers.sh [SECONDS]   (default 20 per target)
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

draw_obj="$out/obj/token_draw.o"
$launcher clang++ "${flags[@]}" -c engine/token_draw.cc -o "$draw_obj"
$launcher clang++ "${flags[@]}" -c tests/fuzz/token_draw_fuzzer.cc -o "$out/obj/token_draw_fuzzer.o"
clang++ -fsanitize=fuzzer,address,undefined "$draw_obj" "$out/obj/token_draw_fuzzer.o" \
  -o "$out/token_draw_fuzzer"

echo "run_fuzzers: tokenizer_fuzzer for ${seconds}s"
"$out/tokenizer_fuzzer" -max_total_time="$seconds" -max_len=4096 -rss_limit_mb=6144 \
  -artifact_prefix="$out/" -print_final_stats=1 \
  "$out/corpus" tests/fuzz/seeds 2>&1 | tail -n 12
echo "run_fuzzers: token_draw_fuzzer for $((seconds / 2))s"
mkdir -p "$out/corpus_token_draw"
"$out/token_draw_fuzzer" -max_total_time="$((seconds / 2))" -max_len=1024 -rss_limit_mb=2048 \
  -artifact_prefix="$out/" -print_final_stats=1 "$out/corpus_token_draw" 2>&1 | tail -n 12
