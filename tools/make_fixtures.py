#!/usr/bin/env python3
"""Writes the golden fixtures under tests/fixtures/ from Hugging Face transformers.

Each fixture is a small random-init Mamba-1 or Mamba-2 model (config.json plus safetensors) and
expected.json with what transformers computes for it: the logits after each prompt and the
24-token greedy continuation. The C++ tests load the same folder with our engine and compare.

Run on the GPU machine (it has torch and transformers 5.x); the models run on its CPU in float32,
so the reference is the plain PyTorch path and deterministic:
    python3 tools/make_fixtures.py --out tests/fixtures

Choices worth knowing:
  * Weights are redrawn at a larger scale than HF's init so the logits are far from uniform and a
    wrong kernel changes the greedy ids.
  * For bf16/f16 storage the weights are first rounded to that dtype and the reference runs in f32
    on the rounded values, so the fixture checks our f32 math, not PyTorch's bf16 arithmetic.
  * Mamba-2 with n_groups > 1: the original mamba_ssm code (which trained the released checkpoints)
    normalizes the gated RMSNorm per group of d_inner / n_groups; transformers' PyTorch path
    normalizes over all of d_inner. We patch transformers' norm to the grouped form (see
    grouped_gated_rms_norm) so the fixtures encode the original semantics.
  * Mamba-2 with a time_step_limit: transformers clamps dt in its prefill path but not in its
    cached decode step, so prefill and decode disagree. We clamp in both (as the training-time
    chunked scan does), and for such models take the greedy continuation with use_cache=False,
    i.e. every step through the prefill path.
  * A greedy step whose two best logits lie within NEAR_TIE (relative to the largest |logit|) is a
    near-tie; expected.json marks the first one and tests compare ids only before it.
"""
import argparse
import json
import math
import os
import shutil

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
import torch.nn.functional as F
import transformers
from safetensors.torch import save_file
from transformers import Mamba2Config, Mamba2ForCausalLM, MambaConfig, MambaForCausalLM
from transformers.models.mamba2 import modeling_mamba2

PROMPT_LENGTHS = [1, 7, 50, 300]
NEW_TOKENS = 24
NEAR_TIE = 1e-3

# name, architecture, storage dtype, and the config knobs each case exercises.
CASES = [
    dict(name="mamba1_tied_k4_f32", arch="mamba", dtype=torch.float32, tie=True,
         use_bias=False, use_conv_bias=True, conv_kernel=4),
    dict(name="mamba1_untied_bias_k3_f32", arch="mamba", dtype=torch.float32, tie=False,
         use_bias=True, use_conv_bias=True, conv_kernel=3),
    dict(name="mamba1_tied_noconvbias_k4_bf16", arch="mamba", dtype=torch.bfloat16, tie=True,
         use_bias=False, use_conv_bias=False, conv_kernel=4),
    dict(name="mamba1_untied_k3_f16_sharded", arch="mamba", dtype=torch.float16, tie=False,
         use_bias=False, use_conv_bias=True, conv_kernel=3, sharded=True),
    dict(name="mamba1_original_naming_f32", arch="mamba", dtype=torch.float32, tie=True,
         use_bias=False, use_conv_bias=True, conv_kernel=4, original_naming=True),
    dict(name="mamba2_g1_f32", arch="mamba2", dtype=torch.float32, tie=True, n_groups=1,
         use_bias=False, use_conv_bias=True, conv_kernel=4),
    dict(name="mamba2_g2_untied_bias_f32", arch="mamba2", dtype=torch.float32, tie=False,
         n_groups=2, use_bias=True, use_conv_bias=True, conv_kernel=4,
         time_step_limit=(0.0, 0.08)),
    dict(name="mamba2_g2_bf16", arch="mamba2", dtype=torch.bfloat16, tie=True, n_groups=2,
         use_bias=False, use_conv_bias=True, conv_kernel=3),
    dict(name="mamba2_original_naming_g2_f32", arch="mamba2", dtype=torch.float32, tie=True,
         n_groups=2, use_bias=False, use_conv_bias=True, conv_kernel=4, original_naming=True),
]

HIDDEN = 64
LAYERS = 2
VOCAB = 256          # multiple of 8, so the original naming's vocab padding is a no-op check
D_STATE = 16
M2_HEAD_DIM = 16     # d_inner 128 -> 8 heads
M2_CHUNK = 32        # prompts of 50 and 300 tokens span several chunks


def build_model(case):
    common = dict(vocab_size=VOCAB, hidden_size=HIDDEN, state_size=D_STATE,
                  num_hidden_layers=LAYERS, expand=2, conv_kernel=case["conv_kernel"],
                  use_bias=case["use_bias"], use_conv_bias=case["use_conv_bias"],
                  tie_word_embeddings=case["tie"], layer_norm_epsilon=1e-5,
                  pad_token_id=0, bos_token_id=0, eos_token_id=0)
    if case["arch"] == "mamba":
        return MambaForCausalLM(MambaConfig(**common))
    limit = case.get("time_step_limit", (0.0, float("inf")))
    config = Mamba2Config(num_heads=2 * HIDDEN // M2_HEAD_DIM, head_dim=M2_HEAD_DIM,
                          n_groups=case["n_groups"], chunk_size=M2_CHUNK,
                          time_step_limit=limit, **common)
    return Mamba2ForCausalLM(config)


def scale_weights(model, generator):
    """Redraws weights so activations have unit scale and logits are peaked."""
    def normal(shape, std):
        return torch.randn(shape, generator=generator) * std

    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("A_log"):
                p.copy_(torch.log(torch.rand(p.shape, generator=generator) * 15 + 1))
            elif name.endswith(".D"):
                p.copy_(normal(p.shape, 1.0))
            elif name.endswith("dt_bias") or name.endswith("dt_proj.bias"):
                dt = torch.exp(torch.rand(p.shape, generator=generator) *
                               (math.log(0.2) - math.log(0.005)) + math.log(0.005))
                p.copy_(dt + torch.log(-torch.expm1(-dt)))   # inverse softplus
            elif "norm" in name:
                p.copy_(0.5 + torch.rand(p.shape, generator=generator))
            elif name.endswith("bias"):
                p.copy_(normal(p.shape, 0.2))
            elif "conv1d" in name:
                p.copy_(normal(p.shape, 0.5))
            elif "embeddings" in name or "lm_head" in name:
                p.copy_(normal(p.shape, 1.0))
            elif "out_proj" in name:  # large enough that a layer's output outweighs the
                # embedding on the residual path; else tied models just echo their input token
                p.copy_(normal(p.shape, 4.0 / math.sqrt(p.shape[-1])))
            else:  # Linear weights [out, in]
                p.copy_(normal(p.shape, 1.0 / math.sqrt(p.shape[-1])))


def grouped_gated_rms_norm(self, hidden_states, gate=None):
    """mamba_ssm's RMSNormGated(norm_before_gate=False, group_size=d_inner / ngroups)."""
    input_dtype = hidden_states.dtype
    h = hidden_states.to(torch.float32)
    if gate is not None:
        h = h * F.silu(gate.to(torch.float32))
    grouped = h.view(*h.shape[:-1], self.ssm_groups, -1)
    variance = grouped.pow(2).mean(-1, keepdim=True)
    grouped = grouped * torch.rsqrt(variance + self.variance_epsilon)
    grouped_gated_rms_norm.calls += 1
    return self.weight * grouped.view_as(h).to(input_dtype)


grouped_gated_rms_norm.calls = 0


def patch_mamba2_norm(model, n_groups):
    modeling_mamba2.MambaRMSNormGated.forward = grouped_gated_rms_norm
    for layer in model.backbone.layers:
        layer.mixer.norm.ssm_groups = n_groups


def run_reference(model, prompt, use_cache, new_tokens=NEW_TOKENS):
    """Logits after `prompt` and its greedy continuation, with the first near-tie step."""
    ids = torch.tensor([prompt])
    with torch.no_grad():
        prompt_logits = model(ids).logits[0, -1]
        # An explicit all-ones mask: left to itself, generate() masks every prompt token equal
        # to pad_token_id, and Mamba-2 zeroes masked positions.
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                             do_sample=False, output_logits=True, return_dict_in_generate=True,
                             pad_token_id=0, eos_token_id=None, use_cache=use_cache)
    greedy = out.sequences[0, len(prompt):].tolist()
    near_tie_step = -1
    for step, logits in enumerate(out.logits):
        top2 = torch.topk(logits[0], 2).values
        if (top2[0] - top2[1]) / logits[0].abs().max() < NEAR_TIE:
            near_tie_step = step
            break
    return dict(prompt_ids=prompt, prompt_logits=[float(f"{v:.8g}") for v in prompt_logits],
                greedy_ids=greedy, near_tie_step=near_tie_step)


def original_config(case, config):
    """The state-spaces/mamba-* config.json layout for the same model."""
    ssm_cfg = dict(d_state=config.state_size, d_conv=config.conv_kernel, expand=config.expand,
                   conv_bias=config.use_conv_bias, bias=config.use_bias)
    if case["arch"] == "mamba2":
        ssm_cfg.update(layer="Mamba2", headdim=config.head_dim, ngroups=config.n_groups,
                       chunk_size=config.chunk_size)
    return dict(d_model=config.hidden_size, d_intermediate=0, n_layer=config.num_hidden_layers,
                vocab_size=config.vocab_size, ssm_cfg=ssm_cfg, rms_norm=True,
                residual_in_fp32=True, fused_add_norm=True, pad_vocab_size_multiple=8,
                tie_embeddings=config.tie_word_embeddings)


def save(case, model, folder):
    model = model.to(case["dtype"])
    if case.get("original_naming"):
        tensors = {k.replace("backbone.embeddings.", "backbone.embedding."): v.contiguous()
                   for k, v in model.state_dict().items()
                   if not (case["tie"] and k == "lm_head.weight")}
        save_file(tensors, os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})
        with open(os.path.join(folder, "config.json"), "w") as f:
            json.dump(original_config(case, model.config), f, indent=2)
    else:
        shard = "40KB" if case.get("sharded") else "1GB"
        model.save_pretrained(folder, max_shard_size=shard)
        for extra in ("generation_config.json",):
            path = os.path.join(folder, extra)
            if os.path.exists(path):
                os.remove(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="tests/fixtures")
    args = parser.parse_args()
    torch.manual_seed(0)
    for index, case in enumerate(CASES):
        generator = torch.Generator().manual_seed(1000 + index)
        model = build_model(case).float().eval()
        scale_weights(model, generator)
        with torch.no_grad():  # the reference sees exactly the stored (rounded) weights
            for p in model.parameters():
                p.copy_(p.to(case["dtype"]).to(torch.float32))
        if case["arch"] == "mamba2":
            patch_mamba2_norm(model, case["n_groups"])
        prompts = [torch.randint(0, VOCAB, (n,), generator=generator).tolist()
                   for n in PROMPT_LENGTHS]
        use_cache = "time_step_limit" not in case
        results = [run_reference(model, p, use_cache) for p in prompts]
        folder = os.path.join(args.out, case["name"])
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        save(case, model, folder)
        expected = dict(generator=f"tools/make_fixtures.py, transformers {transformers.__version__},"
                                  f" torch {torch.__version__}, float32 on CPU",
                        grouped_gated_norm=case["arch"] == "mamba2",
                        greedy_use_cache=use_cache,
                        near_tie_threshold=NEAR_TIE, prompts=results)
        with open(os.path.join(folder, "expected.json"), "w") as f:
            json.dump(expected, f)
        ties = [r["near_tie_step"] for r in results]
        print(f"{case['name']}: near-tie steps {ties}, greedy[0] {results[-1]['greedy_ids'][:8]}")
    assert grouped_gated_rms_norm.calls > 0, "the Mamba-2 norm patch was never used"


if __name__ == "__main__":
    main()
