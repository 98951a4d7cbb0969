#ifndef SSM_KERNELS_CUDA_NUMERIC_CUH_
#define SSM_KERNELS_CUDA_NUMERIC_CUH_

// Helpers shared by the kernels: element conversions and activations, written as PyTorch
// defines them (the CPU kernels in kernels/cpu/ use the same formulas), and the alignment check
// their launchers make before choosing 16-byte loads.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "kernels/cuda/element_type.h"

namespace ssm::kernels::cuda {

inline bool Aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

__device__ __forceinline__ float ToFloat(float v) { return v; }
__device__ __forceinline__ float ToFloat(__half v) { return __half2float(v); }
__device__ __forceinline__ float ToFloat(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T>
__device__ __forceinline__ T FromFloat(float v);
template <>
__device__ __forceinline__ float FromFloat<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ __half FromFloat<__half>(float v) {
  return __float2half_rn(v);
}
template <>
__device__ __forceinline__ __nv_bfloat16 FromFloat<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

__device__ __forceinline__ float Silu(float x) { return x / (1.0f + expf(-x)); }
__device__ __forceinline__ float Softplus(float x) { return x > 20.0f ? x : log1pf(expf(x)); }

// Stores v as element i of p, an array of `type`: kernels that feed a 16-bit GEMM write its input
// in the matrix's type, which saves a pass that would narrow it. The branch is the same for
// every thread of a launch.
__device__ __forceinline__ void StoreAs(void* p, int64_t i, ElementType type, float v) {
  switch (type) {
    case ElementType::kF32:
      static_cast<float*>(p)[i] = v;
      break;
    case ElementType::kF16:
      static_cast<__half*>(p)[i] = __float2half_rn(v);
      break;
    case ElementType::kBF16:
      static_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16_rn(v);
      break;
  }
}

// Calls f with a null pointer of the C++ type that `type` names, so one template serves all
// three storage types: Dispatch(type, [&](auto* tag) { Kernel<decltype(*tag)>... }).
template <typename F>
void DispatchElementType(ElementType type, F&& f) {
  switch (type) {
    case ElementType::kF32:
      f(static_cast<float*>(nullptr));
      break;
    case ElementType::kF16:
      f(static_cast<__half*>(nullptr));
      break;
    case ElementType::kBF16:
      f(static_cast<__nv_bfloat16*>(nullptr));
      break;
  }
}

}  // namespace ssm::kernels::cuda

#endif  // SSM_KERNELS_CUDA_NUMERIC_CUH_
