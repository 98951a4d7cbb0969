#ifndef SSM_KERNELS_CPU_CAUSAL_CONV1D_H_
#define SSM_KERNELS_CPU_CAUSAL_CONV1D_H_

#include <cstdint>
#include <span>

#include "kernels/cpu/sequence_slice.h"

namespace ssm::kernels::cpu {

// Depthwise causal 1-D convolution followed by SiLU, for every sequence of a batch.
// Each sequence continues from its conv_window (its previous d_conv - 1 inputs) and leaves the
// window holding its last d_conv - 1 inputs, so prefill in chunks equals prefill at once.
//   x:      [tokens, channels] inputs, row stride ldx
//   weight: [channels, kernel] (PyTorch's [channels, 1, kernel] without the middle axis)
//   bias:   [channels] or nullptr
//   out:    [tokens, channels] outputs, row stride ldo
void CausalConv1dSilu(std::span<const SequenceSlice> sequences, const float* x, int64_t ldx,
                      int64_t channels, int64_t kernel, const float* weight, const float* bias,
                      float* out, int64_t ldo);

}  // namespace ssm::kernels::cpu

#endif  // SSM_KERNELS_CPU_CAUSAL_CONV1D_H_
