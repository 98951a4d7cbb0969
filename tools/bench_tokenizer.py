#!/usr/bin/env python3
"""Encode throughput of our tokenizer and HF `tokenizers`, side by side on one machine.

Both run on one thread over the same files: the whole file as one text, and line by line (HF
through encode_batch with a one-thread pool, which spares it Python's per-call overhead). Our
figures come from `ssm-run tokenizer-bench`. Prints a table and the ratios.
    python3 tools/bench_tokenizer.py --ssm-run build/server/ssm-run \\
        --tokenizer tests/fixtures/tokenizer/gpt-neox-20b.json \\
        tests/fixtures/corpora/tinyshakespeare.txt tests/fixtures/corpora/tinystories.txt
"""
import argparse
import json
import os
import subprocess
import time

os.environ["RAYON_NUM_THREADS"] = "1"          # before tokenizers starts its thread pool
os.environ["TOKENIZERS_PARALLELISM"] = "false"
from tokenizers import Tokenizer  # noqa: E402
import tokenizers  # noqa: E402


def best_seconds(fn, repeat):
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ssm-run", required=True)
    parser.add_argument("--tokenizer", required=True)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("inputs", nargs="+")
    args = parser.parse_args()
    hf = Tokenizer.from_file(args.tokenizer)
    print(f"tokenizers {tokenizers.__version__}; best of {args.repeat}; MB/s, one thread")
    print(f"{'input':<22} {'mode':<6} {'ours':>8} {'HF':>8} {'ours/HF':>8}")
    for path in args.inputs:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        lines = text.split("\n")
        mb = len(text.encode("utf-8")) / 1e6
        ours = json.loads(subprocess.run(
            [args.ssm_run, "tokenizer-bench", "--tokenizer", args.tokenizer, "--input", path,
             "--repeat", str(args.repeat)], check=True, capture_output=True, text=True).stdout)
        hf_whole = mb / best_seconds(lambda: hf.encode(text), args.repeat)
        hf_lines = mb / best_seconds(lambda: hf.encode_batch(lines), args.repeat)
        name = os.path.basename(path)
        for mode, mine, theirs in (("whole", ours["whole_mb_per_s"], hf_whole),
                                   ("lines", ours["lines_mb_per_s"], hf_lines)):
            print(f"{name:<22} {mode:<6} {mine:8.2f} {theirs:8.2f} {mine / theirs:8.2f}")


if __name__ == "__main__":
    main()
