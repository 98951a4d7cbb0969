#!/usr/bin/env python3
"""Where the GPU time of one forward step goes, kernel by kernel (run on the GPU machine).

Runs `ssm-run bench` under Nsight Compute, which times every kernel (graph nodes included), cuts
the kernel sequence into forward steps at each embedding lookup, and prints for one step each
kernel's count, total time and share. The step shown is the last decode step of the bench, or
with --prefill the last prefill run. Kernel times under ncu are serialised, and ncu empties the
caches before each kernel, so small kernels read slower than inside a graph: the shares are
what to look at. --raw-csv keeps ncu's output (a call that fails to parse it keeps the data);
--from-csv analyses such a file anywhere, no GPU needed.

  python3 tools/profile_step.py --ssm-run .carry/bin/ssm-run --shape mamba-1.4b --batch 256
  python3 tools/profile_step.py --shape mamba-1.4b --batch 256 --kernel ScanOneToken
"""

import argparse
import collections
import csv
import io
import subprocess
import sys


def run_ncu(command):
    """ncu's CSV of every kernel that `command` launches."""
    result = subprocess.run(
        ["ncu", "--csv", "--clock-control", "none", "--metrics", "gpu__time_duration.sum"] + command,
        capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"ncu failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result.stdout[result.stdout.find('"ID"'):]


def parse_rows(text):
    rows = []
    for row in csv.DictReader(io.StringIO(text)):
        if row["Metric Name"] != "gpu__time_duration.sum":
            continue
        scale = {"ns": 1e-3, "nsecond": 1e-3, "us": 1.0, "usecond": 1.0, "ms": 1e3,
                 "msecond": 1e3}[row["Metric Unit"]]
        value = float(row["Metric Value"].replace(",", ""))
        rows.append((short_name(row["Kernel Name"]), row["Grid Size"], value * scale))
    return rows


def short_name(name):
    """The kernel's own name and template arguments, without return type and namespaces."""
    name = name.split("(")[0].removeprefix("void ").replace("<unnamed>::", "")
    template = name.find("<")
    head = name if template < 0 else name[:template]
    return (head.split("::")[-1] + ("" if template < 0 else name[template:]))[:60]


STEP_START = "GatherRows"  # the embedding lookup, a step's first kernel


def split_steps(rows):
    steps, current = [], []
    for row in rows:
        if row[0].startswith(STEP_START):
            if current:
                steps.append(current)
            current = []
        current.append(row)
    if current:
        steps.append(current)
    return steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ssm-run", default=".carry/bin/ssm-run")
    parser.add_argument("--shape", required=True)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--prefill", type=int, default=0,
                        help="profile a prefill of this many tokens instead of a decode step")
    parser.add_argument("--kernel",
                        help="instead of the per-kernel times, ncu's throughput, issue, stall, "
                             "memory and occupancy sections for two launches (the 5th and 6th) of "
                             "kernels matching this regex, e.g. ScanOneToken")
    parser.add_argument("--raw-csv", help="also write ncu's CSV here")
    parser.add_argument("--from-csv", help="analyse a CSV saved by --raw-csv instead of running")
    args = parser.parse_args()

    bench = [args.ssm_run, "bench", "--device", "cuda", "--random", args.shape, "--batch-sizes",
             str(args.batch), "--decode-steps", "2", "--prefill-tokens", str(args.prefill or 1),
             "--per-sequence-loop", "0"]
    if args.kernel:
        # Every launch of a kernel in a bench has the same shape, so any two will do; the first
        # few are skipped as warm-up.
        result = subprocess.run(
            ["ncu", "--clock-control", "none", "--section", "SpeedOfLight", "--section",
             "ComputeWorkloadAnalysis", "--section", "WarpStateStats", "--section",
             "MemoryWorkloadAnalysis", "--section", "Occupancy", "-k", f"regex:{args.kernel}",
             "--launch-skip", "4", "--launch-count", "2"] + bench,
            capture_output=True, text=True)
        print(result.stdout[result.stdout.find("==PROF=="):] or result.stderr[-3000:])
        return
    if args.from_csv:
        with open(args.from_csv) as f:
            text = f.read()
    else:
        text = run_ncu(bench)
        if args.raw_csv:
            with open(args.raw_csv, "w") as f:
                f.write(text)
    steps = split_steps(parse_rows(text))
    # The bench ends with 4 prefill runs; the step before them is its last decode step. A prompt
    # longer than the backend's max_step_tokens runs in pieces: then the last piece is shown.
    step = steps[-1] if args.prefill else steps[-5]
    what = f"prefill of {args.prefill} tokens" if args.prefill else f"decode step, batch {args.batch}"
    total = sum(t for _, _, t in step)
    by_kernel = collections.defaultdict(lambda: [0, 0.0])
    for name, _, t in step:
        by_kernel[name][0] += 1
        by_kernel[name][1] += t
    print(f"\n{args.shape}, {what}: {len(step)} kernels, {total:.1f} us of kernel time")
    print(f"{'kernel':60} {'count':>6} {'total us':>10} {'mean us':>9} {'share':>6}")
    for name, (count, t) in sorted(by_kernel.items(), key=lambda kv: -kv[1][1]):
        print(f"{name:60} {count:6d} {t:10.1f} {t / count:9.2f} {100 * t / total:5.1f}%")


if __name__ == "__main__":
    main()
