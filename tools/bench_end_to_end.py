#!/usr/bin/env python3
"""Server and client against the engine alone, side by side, on one machine (issue 7's figure).

For each concurrency C it measures the engine's decode rate at batch C (`ssm-run bench`), then
`ssm-client bench` against an `ssm-server` on the same model shape at concurrency C, and prints
the ratio of the two output rates. Like for like: every request decodes many more tokens than
its prompt (--output-len against --input-len), each lane runs several requests back to back, and
the first C requests only warm up, so the server spends its time in steady decode at batch C as
the engine bench does.

  python3 tools/bench_end_to_end.py --bin .carry/bin --shape mamba-1.4b --concurrency 1,16,64,256

The server's metrics (on --port + 1) also give the share of the engine thread's busy time spent
between backend calls, which overlapping host and device work would hide.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time
import urllib.request


def engine_rates(args, batches):
    """Decode tokens/s at each batch size, from the bench's JSON line. Each batch decodes as
    many steps as a request's output, so both sides run long enough for the GPU's clocks to
    settle where sustained load puts them."""
    out = subprocess.run(
        [f"{args.bin}/ssm-run", "bench", "--device", args.device, "--random", args.shape,
         "--batch-sizes", ",".join(map(str, batches)), "--decode-steps", str(args.output_len),
         "--prefill-tokens", "16", "--per-sequence-loop", "0"],
        capture_output=True, text=True, check=True).stdout
    report = json.loads(out.strip().splitlines()[-1])
    return {d["batch"]: d["tokens_per_second"] for d in report["decode"]}


def wait_until_serving(args, server, log_path):
    deadline = time.time() + 600  # building a random multi-billion-parameter model takes a while
    while time.time() < deadline:
        if server.poll() is not None:
            with open(log_path) as log:
                sys.exit(f"ssm-server exited: {log.read()[-3000:]}")
        health = subprocess.run([f"{args.bin}/ssm-client", "--target", f"localhost:{args.port}",
                                 "health"], capture_output=True)
        if health.returncode == 0:
            return
        time.sleep(2)
    sys.exit("ssm-server did not start serving in time")


def step_totals(args):
    """Sums and counts of the server's step metrics: backend time, host time between steps and
    sequences per step."""
    with urllib.request.urlopen(f"http://localhost:{args.port + 1}/metrics") as response:
        text = response.read().decode()
    totals = {}
    for name in ("ssm_step_duration_seconds_sum", "ssm_step_duration_seconds_count",
                 "ssm_step_host_seconds_sum", "ssm_step_batch_size_sum"):
        match = re.search(rf"^{name} ([0-9.e+-]+)$", text, re.MULTILINE)
        totals[name] = float(match.group(1)) if match else 0.0
    return totals


def client_run(args, concurrency):
    report_path = f"{args.out}/client_c{concurrency}.json"
    subprocess.run(
        [f"{args.bin}/ssm-client", "--target", f"localhost:{args.port}", "bench", "--no-progress",
         "--concurrency", str(concurrency),
         "--num-requests", str(args.requests_per_lane * concurrency),
         "--warmup-requests", str(concurrency), "--input-len", str(args.input_len),
         "--output-len", str(args.output_len), "--ignore-eos", "--temperature",
         str(args.temperature), "--top-p", str(args.top_p), "--connections",
         str(args.connections), "--output", report_path],
        capture_output=True, text=True, check=True)
    with open(report_path) as f:
        return json.load(f)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin", default=".carry/bin")
    parser.add_argument("--shape", default="mamba-1.4b")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--concurrency", default="1,16,64,256")
    parser.add_argument("--input-len", type=int, default=16)
    parser.add_argument("--output-len", type=int, default=512)
    parser.add_argument("--requests-per-lane", type=int, default=3)
    parser.add_argument("--temperature", type=float, default=0.0,
                        help="sampled requests (drawn on the device) instead of greedy ones")
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--connections", type=int, default=4,
                        help="HTTP/2 connections the client spreads its streams over")
    parser.add_argument("--port", type=int, default=50051)
    parser.add_argument("--out", default=os.environ.get("OUT", "e2e-out"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    levels = [int(c) for c in args.concurrency.split(",")]

    engine = engine_rates(args, levels)
    server_flags = [f"{args.bin}/ssm-server", "--device", args.device, "--model",
                    f"random:{args.shape}", "--slots", str(max(levels) + 8), "--port",
                    str(args.port), "--metrics-port", str(args.port + 1)]
    if args.device == "cuda":
        server_flags.append("--bf16")  # as ssm-run bench stores matrices on a GPU
    # The server's log goes to a file: a pipe nobody reads fills after some hundred requests and
    # then blocks the server.
    log_path = f"{args.out}/server.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(server_flags, stdout=log, stderr=subprocess.STDOUT)
    sampling = ("greedy" if args.temperature == 0 else
                f"sampled at temperature {args.temperature}, top_p {args.top_p}")
    print(f"{args.shape} on {args.device}; {args.input_len} tokens in, {args.output_len} out, "
          f"{sampling}; at concurrency C, C warm-up requests, then {args.requests_per_lane} x C "
          f"timed over {args.connections} connections; the engine figure is greedy decode")
    print("host share: the engine thread's time between backend calls, of its busy time; step ms "
          "and batch: the server's mean backend time and sequences per step (the engine's step "
          "at batch C is C / engine tok/s); client: the load tester's CPU, in cores")
    print(f"{'concurrency':>11} {'engine tok/s':>13} {'served tok/s':>13} {'ratio':>6} "
          f"{'TPOT p50 ms':>12} {'TTFT p50 ms':>12} {'host share':>11} {'step ms':>9} "
          f"{'batch':>7} {'client':>8} {'failed':>7}", flush=True)
    try:
        wait_until_serving(args, server, log_path)
        for c in levels:  # each row printed as it is measured, so a run cut short keeps them
            before = step_totals(args)
            report = client_run(args, c)
            after = step_totals(args)
            delta = {name: after[name] - before[name] for name in after}
            device = delta["ssm_step_duration_seconds_sum"]
            host = delta["ssm_step_host_seconds_sum"]
            steps = max(delta["ssm_step_duration_seconds_count"], 1)
            served = report["output_tokens_per_second"]
            client_cores = report["client"]["cpu_seconds"] / report["duration_seconds"]
            print(f"{c:11d} {engine[c]:13.1f} {served:13.1f} {served / engine[c]:6.2f} "
                  f"{1e3 * report['tpot']['p50']:12.2f} {1e3 * report['ttft']['p50']:12.1f} "
                  f"{100 * host / max(host + device, 1e-9):10.1f}% "
                  f"{1e3 * device / steps:9.2f} {delta['ssm_step_batch_size_sum'] / steps:7.1f} "
                  f"{client_cores:8.2f} {report['failed']:7d}", flush=True)
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
