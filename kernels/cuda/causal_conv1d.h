#ifndef SSM_KERNELS_CUDA_CAUSAL_CONV1D_H_
#define SSM_KERNELS_CUDA_CAUSAL_CONV1D_H_

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/element_type.h"
#include "kernels/cuda/step_layout.h"

namespace ssm::kernels::cuda {

constexpr int kMaxConvKernel = 8;

// Where the convolution writes: fp32 rows for the scan and, when copy is set, the same values
// in a 16-bit type for a GEMM that reads them too (Mamba-1's x_proj), at the same row stride.
struct ConvOutput {
  float* data = nullptr;
  int64_t ld = 0;
  void* copy = nullptr;
  ElementType copy_type = ElementType::kBF16;
};

// Depthwise causal 1-D convolution + SiLU over every sequence of a step, as
// kernels/cpu/causal_conv1d.h: each sequence continues from the conv window in its slot (layer
// `layer` of `pool`) and leaves there its last kernel - 1 inputs, so chunked prefill equals
// prefill at once. Every token is computed in parallel; the windows are updated afterwards.
//   x:      [tokens, channels] inputs, row stride ldx
//   weight: [channels, kernel]; bias: [channels] or nullptr
//   out:    [tokens, channels] outputs
void CausalConv1dSilu(const StepLayout& step, const StatePool& pool, int64_t layer, const float* x,
                      int64_t ldx, int64_t channels, int kernel, const float* weight,
                      const float* bias, const ConvOutput& out, cudaStream_t stream);

}  // namespace ssm::kernels::cuda

#endif  // SSM_KERNELS_CUDA_CAUSAL_CONV1D_H_
