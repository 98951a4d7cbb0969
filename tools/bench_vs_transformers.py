#!/usr/bin/env python3
"""Decode throughput of Hugging Face transformers' MambaForCausalLM and of ssm-serve's engine,
side by side on one GPU, same shape, random bf16 weights; prints both and the ratio.

Run on the GPU machine (torch + transformers 5.x), with an ssm-run built with CUDA:
    python3 tools/bench_vs_transformers.py --ssm-run build/server/ssm-run --shape mamba-130m

transformers runs its own PyTorch path here (the mamba_ssm / causal_conv1d kernels are not
installed on that machine), as a user without those packages would. Its decode rate is taken
from generate(): the time of N new tokens minus the time of one, per sequence and token.
"""
import argparse
import json
import os
import subprocess
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
import transformers
from transformers import MambaConfig, MambaForCausalLM

# d_model, n_layer of the published state-spaces/mamba-* checkpoints (vocab padded to 50280).
SHAPES = {"mamba-130m": (768, 24), "mamba-370m": (1024, 48), "mamba-790m": (1536, 48),
          "mamba-1.4b": (2048, 48), "mamba-2.8b": (2560, 64)}
PROMPT_TOKENS = 16


def generate_seconds(model, prompt, new_tokens):
    torch.cuda.synchronize()
    start = time.perf_counter()
    model.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=new_tokens,
                   min_new_tokens=new_tokens, do_sample=False, pad_token_id=0)
    torch.cuda.synchronize()
    return time.perf_counter() - start


def transformers_decode_rate(model, batch, steps, vocab):
    prompt = torch.randint(0, vocab, (batch, PROMPT_TOKENS), device="cuda")
    generate_seconds(model, prompt, 2)  # warm-up
    one = generate_seconds(model, prompt, 1)
    many = generate_seconds(model, prompt, steps + 1)
    return batch * steps / (many - one)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ssm-run", default="build/server/ssm-run")
    parser.add_argument("--shape", default="mamba-130m", choices=sorted(SHAPES))
    parser.add_argument("--batch-sizes", default="1,16,64")
    parser.add_argument("--steps", type=int, default=32)
    args = parser.parse_args()
    batches = [int(b) for b in args.batch_sizes.split(",")]

    ours = subprocess.run([args.ssm_run, "bench", "--device", "cuda", "--random", args.shape,
                           "--batch-sizes", args.batch_sizes, "--decode-steps", str(args.steps),
                           "--prefill-tokens", "512"],
                          check=True, capture_output=True, text=True).stdout
    print(ours)
    our_rates = {d["batch"]: d["tokens_per_second"]
                 for d in json.loads(ours.strip().splitlines()[-1])["decode"]}

    d_model, n_layer = SHAPES[args.shape]
    torch.manual_seed(0)
    config = MambaConfig(vocab_size=50280, hidden_size=d_model, num_hidden_layers=n_layer,
                         state_size=16, expand=2, conv_kernel=4, tie_word_embeddings=True)
    model = MambaForCausalLM(config).to(device="cuda", dtype=torch.bfloat16).eval()
    print(f"transformers {transformers.__version__}, torch {torch.__version__}, "
          f"{torch.cuda.get_device_name()}, {args.shape}, bf16 weights")
    print(f"{'batch':>6} {'transformers tok/s':>19} {'ssm-serve tok/s':>16} {'ratio':>8}")
    for batch in batches:
        theirs = transformers_decode_rate(model, batch, args.steps, config.vocab_size)
        print(f"{batch:>6} {theirs:>19.1f} {our_rates[batch]:>16.1f} "
              f"{our_rates[batch] / theirs:>7.1f}x", flush=True)


if __name__ == "__main__":
    main()
