#ifndef SSM_KERNELS_CPU_SEQUENCE_SLICE_H_
#define SSM_KERNELS_CPU_SEQUENCE_SLICE_H_

#include <cstdint>

namespace ssm::kernels::cpu {

// One sequence of a batch: its tokens are rows [begin, begin + length) of the batch's
// token-major activations, and it carries its own recurrent state for the current layer.
struct SequenceSlice {
  int64_t begin = 0;
  int64_t length = 0;
  float* conv_window = nullptr;  // [d_conv - 1, conv_channels], oldest input first
  float* ssm_state = nullptr;    // Mamba-1: [d_inner, d_state]; Mamba-2: [heads, head_dim, d_state]
};

// Activation functions shared by the kernels, written as PyTorch defines them.
inline float Silu(float x) { return x / (1.0f + __builtin_expf(-x)); }
inline float Softplus(float x) { return x > 20.0f ? x : __builtin_log1pf(__builtin_expf(x)); }

}  // namespace ssm::kernels::cpu

#endif  // SSM_KERNELS_CPU_SEQUENCE_SLICE_H_
