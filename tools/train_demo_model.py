#!/usr/bin/env python3
"""Trains the small demo model shipped in models/tinystories-mamba/.

A byte-level BPE tokenizer (Hugging Face `tokenizers`) and a small Mamba-1 model (transformers'
MambaForCausalLM) trained on TinyStories, so that a fresh clone can stream readable text on any
CPU. Run on the GPU machine; fixed seed, a few minutes:
    python3 tools/train_demo_model.py --out models/tinystories-mamba

It writes config.json, model.safetensors (f32), tokenizer.json, expected.json (what transformers
computes for the saved weights: logits after each demo prompt and its greedy continuation, in the
format of tests/fixtures/*/expected.json, plus the prompt and continuation as text) and README.md,
the model card, with the figures of this run.

Choices worth knowing:
  * Stories are split off whole: every 20th story is held out, and the reported held-out loss is
    measured on those.
  * The corpus is small (about 0.9 MB), so a model of a few million parameters overfits within a
    few epochs. The run evaluates the held-out loss regularly and keeps the best weights.
  * Training runs transformers' plain PyTorch path (the GPU machine has neither mamba_ssm nor
    mambapy); its sequential scan is slow but fine at this size. The reference runs on the CPU
    in float32 on the weights as saved, the same arithmetic that the C++ tests check against.
"""
import argparse
import json
import math
import os
import re
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
import torch.nn.functional as F
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import MambaConfig, MambaForCausalLM

from make_fixtures import run_reference

END_OF_TEXT = "<|endoftext|>"
DEMO_PROMPTS = ["Once upon a time", "Lily wanted to play with her dog.", "The sun was"]
DEMO_NEW_TOKENS = 48
HELD_OUT_EVERY = 20


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default="tests/fixtures/corpora/tinystories.txt")
    parser.add_argument("--out", default="models/tinystories-mamba")
    parser.add_argument("--vocab-size", type=int, default=4096)
    parser.add_argument("--hidden-size", type=int, default=256)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--eval-every", type=int, default=50)
    parser.add_argument("--time-limit-s", type=float, default=420,
                        help="stop training after this long, keeping the best weights so far")
    parser.add_argument("--seed", type=int, default=1234)
    return parser.parse_args()


def split_stories(path):
    """The corpus holds one story per block; paragraphs inside a story are separated by a blank
    line, stories by a single newline."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    stories = [s.strip() for s in re.split(r"(?<!\n)\n(?!\n)", text)]
    stories = [s for s in stories if len(s) >= 40]
    held_out = stories[HELD_OUT_EVERY - 1::HELD_OUT_EVERY]
    train = [s for i, s in enumerate(stories) if (i + 1) % HELD_OUT_EVERY != 0]
    return train, held_out


def train_tokenizer(stories, vocab_size):
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2,
                                  special_tokens=[END_OF_TEXT], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(stories, trainer)
    return tokenizer


def token_stream(tokenizer, stories, eos_id):
    """All stories as one stream, each followed by <|endoftext|>."""
    ids = []
    for encoding in tokenizer.encode_batch(stories):
        ids.extend(encoding.ids)
        ids.append(eos_id)
    return torch.tensor(ids, dtype=torch.long)


def windows(stream, seq_len):
    """Non-overlapping (input, target) windows covering the stream."""
    count = (len(stream) - 1) // seq_len
    inputs = stream[:count * seq_len].view(count, seq_len)
    targets = stream[1:count * seq_len + 1].view(count, seq_len)
    return inputs, targets


def loss_of(model, inputs, targets):
    logits = model(inputs, use_cache=False).logits
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1))


@torch.no_grad()
def mean_loss(model, inputs, targets, batch_size):
    model.eval()
    total = 0.0
    for i in range(0, len(inputs), batch_size):
        x, y = inputs[i:i + batch_size], targets[i:i + batch_size]
        total += loss_of(model, x, y).item() * len(x)
    model.train()
    return total / len(inputs)


def learning_rate(step, args):
    warmup = 50
    if step < warmup:
        return args.lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, args.steps - warmup)
    return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def train(model, train_stream, held_inputs, held_targets, args, device):
    generator = torch.Generator().manual_seed(args.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95),
                                  weight_decay=0.1)
    best = dict(loss=float("inf"), step=0, state=None)
    history = []
    started = time.time()
    model.train()
    for step in range(args.steps):
        starts = torch.randint(0, len(train_stream) - args.seq_len - 1, (args.batch_size,),
                               generator=generator)
        batch = torch.stack([train_stream[s:s + args.seq_len + 1] for s in starts]).to(device)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, args)
        loss = loss_of(model, batch[:, :-1], batch[:, 1:])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        out_of_time = time.time() - started > args.time_limit_s
        if (step + 1) % args.eval_every == 0 or step + 1 == args.steps or out_of_time:
            held = mean_loss(model, held_inputs, held_targets, args.batch_size)
            history.append(dict(step=step + 1, train_loss=round(loss.item(), 4),
                                held_out_loss=round(held, 4),
                                seconds=round(time.time() - started, 1)))
            print(history[-1], flush=True)
            if held < best["loss"]:
                best = dict(loss=held, step=step + 1,
                            state={k: v.detach().cpu().clone()
                                   for k, v in model.state_dict().items()})
        if out_of_time:
            break
    return best, history, time.time() - started


def reference(model, tokenizer):
    results = []
    for text in DEMO_PROMPTS:
        result = run_reference(model, tokenizer.encode(text).ids, use_cache=True,
                               new_tokens=DEMO_NEW_TOKENS)
        result.update(prompt_text=text, greedy_text=tokenizer.decode(result["greedy_ids"]))
        results.append(result)
    return results


def samples(model, tokenizer, seed):
    torch.manual_seed(seed)
    texts = []
    for text in DEMO_PROMPTS:
        ids = torch.tensor([tokenizer.encode(text).ids])
        with torch.no_grad():
            out = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=True,
                                 temperature=0.8, top_p=0.95, max_new_tokens=120,
                                 pad_token_id=0, eos_token_id=0)
        texts.append(text + tokenizer.decode(out[0, ids.shape[1]:].tolist()))
    return texts


def model_card(args, config, params, stats, results, sampled):
    def text_block(text):
        return f"```text\n{text}\n```"

    greedy = "\n\n".join(text_block(r["prompt_text"] + r["greedy_text"]) for r in results)
    sampled_text = "\n\n".join(text_block(t) for t in sampled)
    history = "\n".join(f"| {h['step']} | {h['train_loss']} | {h['held_out_loss']} | "
                        f"{h['seconds']} |" for h in stats["history"])
    return f"""# tinystories-mamba: a small demo model

A Mamba-1 language model small enough to ship in the repository
(f32, {stats['bytes'] / 1e6:.1f} MB), so that the quick start streams readable text on any CPU
without a download. It writes short children's stories in simple English and knows nothing
else: a demo, not a useful model.

## Data and licence
Trained on `tests/fixtures/corpora/tinystories.txt`, the first ~1,100 stories of the TinyStories
training set (Eldan and Li, 2023; CDLA-Sharing-1.0), about 0.9 MB of text. Every
{HELD_OUT_EVERY}th story is held out: {stats['held_out_stories']} stories,
{stats['held_out_tokens']} tokens. The rest is the training set: {stats['train_stories']} stories,
{stats['train_tokens']} tokens. CDLA-Sharing-1.0 places no restriction on results such as
trained weights.

## Architecture
transformers `MambaForCausalLM` with {config.num_hidden_layers} layers, hidden size
{config.hidden_size}, d_inner {config.intermediate_size}, d_state {config.state_size}, conv
kernel {config.conv_kernel}, dt rank {config.time_step_rank} and tied embeddings:
{params:,} parameters. Tokenizer: byte-level BPE with {config.vocab_size} ids, trained on the
training split with HF `tokenizers`; `<|endoftext|>` = 0 ends every story and is the eos token.

## Training
`python3 tools/train_demo_model.py --out models/tinystories-mamba` (seed {args.seed}) on one
NVIDIA H200, transformers {transformers.__version__}, torch {torch.__version__}:
{stats['seconds']:.0f} s of training, {stats['steps']} steps. AdamW (lr {args.lr}, betas
0.9/0.95, weight decay 0.1), 50 warm-up steps, then cosine decay over {args.steps} steps to 10%;
batches of {args.batch_size} windows of {args.seq_len} tokens; gradient clipping at 1.0. The run
stops after {args.time_limit_s:.0f} s. The held-out loss is measured every {args.eval_every}
steps, and the weights kept are those of step {stats['best_step']}, where it was lowest: the
corpus is small and the model soon learns it by heart.

| step | train loss | held-out loss | seconds |
|---|---|---|---|
{history}

Best held-out loss: **{stats['best_loss']:.3f}** nats/token (perplexity
{math.exp(stats['best_loss']):.1f}).

## Sample outputs
Greedy, {DEMO_NEW_TOKENS} new tokens. `expected.json` holds these with their token ids and
logits; the tests check that ssm-serve reproduces them.

{greedy}

Sampled by transformers (temperature 0.8, top-p 0.95, up to 120 tokens):

{sampled_text}
"""


def main():
    args = parse_args()
    torch.manual_seed(args.seed)
    torch.backends.cuda.matmul.allow_tf32 = True
    device = "cuda" if torch.cuda.is_available() else "cpu"
    os.makedirs(args.out, exist_ok=True)

    train_stories, held_stories = split_stories(args.corpus)
    tokenizer = train_tokenizer(train_stories, args.vocab_size)
    eos_id = tokenizer.token_to_id(END_OF_TEXT)
    assert eos_id == 0, "the eos token must be id 0"
    train_stream = token_stream(tokenizer, train_stories, eos_id)
    held_inputs, held_targets = windows(token_stream(tokenizer, held_stories, eos_id),
                                        args.seq_len)
    print(f"train {len(train_stories)} stories / {len(train_stream)} tokens, held out "
          f"{len(held_stories)} stories / {held_inputs.numel()} tokens", flush=True)

    config = MambaConfig(vocab_size=tokenizer.get_vocab_size(), hidden_size=args.hidden_size,
                         state_size=16, num_hidden_layers=args.layers, expand=2, conv_kernel=4,
                         use_bias=False, use_conv_bias=True, tie_word_embeddings=True,
                         layer_norm_epsilon=1e-5, pad_token_id=0, bos_token_id=0,
                         eos_token_id=0)
    model = MambaForCausalLM(config).to(device)
    params = sum(p.numel() for p in model.parameters())
    print(f"{params:,} parameters", flush=True)
    best, history, seconds = train(model, train_stream, held_inputs.to(device),
                                   held_targets.to(device), args, device)

    model = model.cpu().float()
    model.load_state_dict(best["state"])
    model.save_pretrained(args.out)
    generation_config = os.path.join(args.out, "generation_config.json")
    if os.path.exists(generation_config):
        os.remove(generation_config)
    tokenizer.save(os.path.join(args.out, "tokenizer.json"))

    # The reference comes from the files as saved, so the tests check exactly what ships.
    saved = MambaForCausalLM.from_pretrained(args.out, dtype=torch.float32).eval()
    results = reference(saved, tokenizer)
    with open(os.path.join(args.out, "expected.json"), "w") as f:
        json.dump(dict(generator=f"tools/train_demo_model.py, transformers "
                                 f"{transformers.__version__}, torch {torch.__version__}, "
                                 f"float32 on CPU", greedy_use_cache=True, prompts=results), f)
    sampled = samples(saved, tokenizer, args.seed)
    stats = dict(history=history, seconds=seconds, steps=history[-1]["step"],
                 best_step=best["step"],
                 best_loss=best["loss"], train_stories=len(train_stories),
                 held_out_stories=len(held_stories), train_tokens=len(train_stream),
                 held_out_tokens=held_inputs.numel(),
                 bytes=os.path.getsize(os.path.join(args.out, "model.safetensors")))
    with open(os.path.join(args.out, "README.md"), "w") as f:
        f.write(model_card(args, saved.config, params, stats, results, sampled))
    for r in results:
        print(f"{r['prompt_text']!r} -> {r['greedy_text']!r} (near-tie {r['near_tie_step']})")
    print("\n".join(sampled))


if __name__ == "__main__":
    main()
