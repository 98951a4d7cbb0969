#include "engine/cpu_backend.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/greedy.h"
#include "kernels/cpu/causal_conv1d.h"
#include "kernels/cpu/linear.h"
#include "kernels/cpu/multi_head_scan.h"
#include "kernels/cpu/rms_norm.h"
#include "kernels/cpu/selective_scan.h"

namespace ssm {

using kernels::cpu::SequenceSlice;

CpuBackend::CpuBackend(const Model& model, int num_slots)
    : config_(model.config()),
      num_slots_(num_slots),
      layer_size_(config_.conv_state_size() + config_.ssm_state_size()),
      slot_size_(layer_size_ * config_.n_layer),
      state_(static_cast<size_t>(slot_size_) * num_slots, 0.0f) {
  const ModelWeights& w = model.weights();
  embedding_ = Widen(w.embedding);
  norm_f_ = Widen(w.norm_f);
  lm_head_ = Widen(w.lm_head);
  for (const LayerWeights& l : w.layers) {
    layers_.push_back(Layer{
        .norm = Widen(l.norm),
        .in_proj = Widen(l.in_proj),
        .in_proj_bias = Widen(l.in_proj_bias),
        .conv = Widen(l.conv),
        .conv_bias = Widen(l.conv_bias),
        .x_proj = Widen(l.x_proj),
        .dt_proj = Widen(l.dt_proj),
        .dt_proj_bias = Widen(l.dt_proj_bias),
        .dt_bias = Widen(l.dt_bias),
        .A = NegExp(l.A_log),
        .D = Widen(l.D),
        .gated_norm = Widen(l.gated_norm),
        .out_proj = Widen(l.out_proj),
        .out_proj_bias = Widen(l.out_proj_bias),
    });
  }
}

// fp32 tensors are used in place from the memory map; others are widened once.
const float* CpuBackend::Widen(const TensorView* tensor) {
  if (tensor == nullptr) return nullptr;
  const bool aligned = reinterpret_cast<uintptr_t>(tensor->bytes.data()) % alignof(float) == 0;
  if (tensor->dtype == DType::kF32 && aligned) {
    return reinterpret_cast<const float*>(tensor->bytes.data());
  }
  std::vector<float>& wide = widened_.emplace_back(tensor->NumElements());
  ConvertToFloat(tensor->dtype, tensor->bytes.data(), wide.size(), wide.data());
  return wide.data();
}

const float* CpuBackend::NegExp(const TensorView* A_log) {
  std::vector<float>& A = widened_.emplace_back(A_log->NumElements());
  ConvertToFloat(A_log->dtype, A_log->bytes.data(), A.size(), A.data());
  for (float& a : A) a = -std::exp(a);
  return A.data();
}

absl::Status CpuBackend::StepLogits(std::span<const SequenceInput> batch, std::span<float> logits) {
  const int64_t H = config_.d_model;
  int64_t tokens = 0;
  std::vector<SequenceSlice> seqs;
  for (const SequenceInput& input : batch) {
    seqs.push_back({.begin = tokens, .length = static_cast<int64_t>(input.tokens.size())});
    tokens += input.tokens.size();
  }

  hidden_.resize(tokens * H);
  normed_.resize(tokens * H);
  for (size_t s = 0; s < batch.size(); ++s) {
    for (int64_t t = 0; t < seqs[s].length; ++t) {
      std::memcpy(&hidden_[(seqs[s].begin + t) * H], embedding_ + batch[s].tokens[t] * H,
                  H * sizeof(float));
    }
  }

  for (int64_t l = 0; l < config_.n_layer; ++l) {
    const Layer& layer = layers_[l];
    for (size_t s = 0; s < batch.size(); ++s) {
      seqs[s].conv_window = SlotLayer(batch[s].slot, l);
      seqs[s].ssm_state = seqs[s].conv_window + config_.conv_state_size();
    }
    kernels::cpu::RmsNorm(hidden_.data(), layer.norm, tokens, H, config_.norm_eps, normed_.data());
    const int64_t P = config_.in_proj_size();
    projected_.resize(tokens * P);
    kernels::cpu::Linear(normed_.data(), H, tokens, H, layer.in_proj, P, layer.in_proj_bias,
                         projected_.data(), P);
    y_.resize(tokens * config_.d_inner);
    if (config_.architecture == Architecture::kMamba1) {
      Mamba1Mixer(layer, seqs, tokens);
    } else {
      Mamba2Mixer(layer, seqs, tokens);
    }
    // out_proj accumulates onto the residual stream.
    kernels::cpu::Linear(y_.data(), config_.d_inner, tokens, config_.d_inner, layer.out_proj, H,
                         layer.out_proj_bias, hidden_.data(), H, /*accumulate=*/true);
  }

  // Only each sequence's last token needs the final norm and the vocabulary projection.
  last_.resize(batch.size() * H);
  for (size_t s = 0; s < batch.size(); ++s) {
    kernels::cpu::RmsNorm(&hidden_[(seqs[s].begin + seqs[s].length - 1) * H], norm_f_, 1, H,
                          config_.norm_eps, &last_[s * H]);
  }
  kernels::cpu::Linear(last_.data(), H, batch.size(), H, lm_head_, config_.vocab_size, nullptr,
                       logits.data(), config_.vocab_size);
  return absl::OkStatus();
}

absl::Status CpuBackend::StepGreedy(std::span<const SequenceInput> batch, std::span<int32_t> next) {
  const size_t vocab = config_.vocab_size;
  greedy_logits_.resize(batch.size() * vocab);
  if (absl::Status status = StepLogits(batch, greedy_logits_); !status.ok()) return status;
  for (size_t i = 0; i < batch.size(); ++i) next[i] = ArgMax({&greedy_logits_[i * vocab], vocab});
  return absl::OkStatus();
}

// in_proj rows are [x | z]; x goes through conv, x_proj gives [dt_low | B | C], dt_proj lifts
// dt_low to d_inner, and the selective scan produces the gated output.
void CpuBackend::Mamba1Mixer(const Layer& layer, std::span<const SequenceSlice> seqs,
                             int64_t tokens) {
  const int64_t I = config_.d_inner, N = config_.d_state, R = config_.dt_rank;
  const int64_t P = config_.in_proj_size(), X = R + 2 * N;
  conv_out_.resize(tokens * I);
  kernels::cpu::CausalConv1dSilu(seqs, projected_.data(), P, I, config_.d_conv, layer.conv,
                                 layer.conv_bias, conv_out_.data(), I);
  x_dbl_.resize(tokens * X);
  kernels::cpu::Linear(conv_out_.data(), I, tokens, I, layer.x_proj, X, nullptr, x_dbl_.data(), X);
  dt_.resize(tokens * I);
  kernels::cpu::Linear(x_dbl_.data(), X, tokens, R, layer.dt_proj, I, layer.dt_proj_bias,
                       dt_.data(), I);
  kernels::cpu::SelectiveScan(seqs, {.d_inner = I,
                                     .d_state = N,
                                     .x = conv_out_.data(),
                                     .ldx = I,
                                     .dt = dt_.data(),
                                     .lddt = I,
                                     .B = x_dbl_.data() + R,
                                     .C = x_dbl_.data() + R + N,
                                     .ldbc = X,
                                     .z = projected_.data() + I,
                                     .ldz = P,
                                     .A = layer.A,
                                     .D = layer.D,
                                     .y = y_.data(),
                                     .ldy = I});
}

// in_proj rows are [z | xBC | dt]; xBC goes through conv and splits into x, B and C; the
// multi-head scan runs per head, and the gated RMSNorm (per group) applies z.
void CpuBackend::Mamba2Mixer(const Layer& layer, std::span<const SequenceSlice> seqs,
                             int64_t tokens) {
  const int64_t I = config_.d_inner, G = config_.n_groups, N = config_.d_state;
  const int64_t P = config_.in_proj_size(), Cch = config_.conv_channels();
  conv_out_.resize(tokens * Cch);
  kernels::cpu::CausalConv1dSilu(seqs, projected_.data() + I, P, Cch, config_.d_conv, layer.conv,
                                 layer.conv_bias, conv_out_.data(), Cch);
  kernels::cpu::MultiHeadScan(seqs, {.heads = config_.n_heads,
                                     .head_dim = config_.head_dim,
                                     .groups = G,
                                     .d_state = N,
                                     .x = conv_out_.data(),
                                     .B = conv_out_.data() + I,
                                     .C = conv_out_.data() + I + G * N,
                                     .ldxbc = Cch,
                                     .dt = projected_.data() + I + Cch,
                                     .lddt = P,
                                     .dt_bias = layer.dt_bias,
                                     .dt_min = config_.dt_min,
                                     .dt_max = config_.dt_max,
                                     .A = layer.A,
                                     .D = layer.D,
                                     .y = y_.data(),
                                     .ldy = I});
  kernels::cpu::GatedRmsNorm(y_.data(), projected_.data(), P, layer.gated_norm, tokens, I, I / G,
                             config_.norm_eps);
}

void CpuBackend::ClearSlot(int slot) { std::fill_n(&state_[slot * slot_size_], slot_size_, 0.0f); }

void CpuBackend::CopySlot(int from, int to) {
  std::copy_n(&state_[from * slot_size_], slot_size_, &state_[to * slot_size_]);
}

std::vector<float> CpuBackend::ReadSlot(int slot) const {
  const float* begin = &state_[slot * slot_size_];
  return std::vector<float>(begin, begin + slot_size_);
}

absl::Status CpuBackend::WriteSlot(int slot, std::span<const float> state) {
  if (static_cast<int64_t>(state.size()) != slot_size_) {
    return absl::InvalidArgumentError(
        absl::StrCat("state has ", state.size(), " floats; this model's slots hold ", slot_size_));
  }
  std::copy(state.begin(), state.end(), &state_[slot * slot_size_]);
  return absl::OkStatus();
}

}  // namespace ssm
