#include "kernels/cpu/causal_conv1d.h"

#include <algorithm>

namespace ssm::kernels::cpu {
namespace {

constexpr int64_t kChannelBlock = 64;

// One sequence, channels [c0, c1). The window and the new inputs form one timeline:
// position p < kernel-1 is window row p, position p >= kernel-1 is token p - (kernel-1).
void ConvolveBlock(const SequenceSlice& seq, const float* x, int64_t ldx, int64_t channels,
                   int64_t kernel, const float* weight, const float* bias, float* out, int64_t ldo,
                   int64_t c0, int64_t c1) {
  const int64_t history = kernel - 1;
  auto input_at = [&](int64_t position, int64_t c) {
    return position < history ? seq.conv_window[position * channels + c]
                              : x[(seq.begin + position - history) * ldx + c];
  };
  for (int64_t t = 0; t < seq.length; ++t) {
    float* o = out + (seq.begin + t) * ldo;
    for (int64_t c = c0; c < c1; ++c) {
      float acc = bias != nullptr ? bias[c] : 0.0f;
      for (int64_t k = 0; k < kernel; ++k) acc += weight[c * kernel + k] * input_at(t + k, c);
      o[c] = Silu(acc);
    }
  }
  // Slide the window: its new rows are the last `history` positions of the timeline.
  for (int64_t row = 0; row < history; ++row) {
    const int64_t position = seq.length + row;
    if (position < history) {
      std::copy(seq.conv_window + position * channels + c0,
                seq.conv_window + position * channels + c1, seq.conv_window + row * channels + c0);
    } else {
      const float* src = x + (seq.begin + position - history) * ldx;
      std::copy(src + c0, src + c1, seq.conv_window + row * channels + c0);
    }
  }
}

}  // namespace

void CausalConv1dSilu(std::span<const SequenceSlice> sequences, const float* x, int64_t ldx,
                      int64_t channels, int64_t kernel, const float* weight, const float* bias,
                      float* out, int64_t ldo) {
  const int64_t blocks = (channels + kChannelBlock - 1) / kChannelBlock;
  const int64_t num_sequences = static_cast<int64_t>(sequences.size());
#pragma omp parallel for collapse(2) schedule(dynamic)
  for (int64_t s = 0; s < num_sequences; ++s) {
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t c0 = b * kChannelBlock;
      ConvolveBlock(sequences[s], x, ldx, channels, kernel, weight, bias, out, ldo, c0,
                    std::min(channels, c0 + kChannelBlock));
    }
  }
}

}  // namespace ssm::kernels::cpu
