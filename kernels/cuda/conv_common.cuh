#ifndef SSM_KERNELS_CUDA_CONV_COMMON_CUH_
#define SSM_KERNELS_CUDA_CONV_COMMON_CUH_

// What the kernels that compute the causal conv + SiLU share (causal_conv1d.cu, and Gemv's
// conv epilogue in gemv.cu), so that they compute the same function. Internal to kernels/cuda.
#include <cstdint>

#include "kernels/cuda/causal_conv1d.h"
#include "kernels/cuda/numeric.cuh"

namespace ssm::kernels::cuda {

// One output: SiLU(bias + weights . inputs), inputs oldest first.
template <int kKernel>
__device__ __forceinline__ float ConvSilu(const float (&w)[kKernel], float bias,
                                          const float (&inputs)[kKernel]) {
  float acc = bias;
#pragma unroll
  for (int k = 0; k < kKernel; ++k) acc += w[k] * inputs[k];
  return Silu(acc);
}

// Channel c's weights, kept in registers.
template <int kKernel>
__device__ __forceinline__ void LoadConvWeights(const float* weight, int64_t c,
                                                float (&w)[kKernel]) {
#pragma unroll
  for (int k = 0; k < kKernel; ++k) w[k] = weight[c * kKernel + k];
}

__device__ __forceinline__ void StoreConvOutput(const ConvOutput& out, int64_t token,
                                                int64_t channel, float v) {
  out.data[token * out.ld + channel] = v;
  if (out.copy != nullptr) StoreAs(out.copy, token * out.ld + channel, out.copy_type, v);
}

}  // namespace ssm::kernels::cuda

#endif  // SSM_KERNELS_CUDA_CONV_COMMON_CUH_
