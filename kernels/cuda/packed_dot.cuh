#ifndef SSM_KERNELS_CUDA_PACKED_DOT_CUH_
#define SSM_KERNELS_CUDA_PACKED_DOT_CUH_

// Dot products of 16-byte loads of a 16-bit matrix (8 f16 or bf16 values) with fp32 vectors:
// what Gemv and the one-token scan's low-rank step size share. Internal to kernels/cuda.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

namespace ssm::kernels::cuda {

constexpr int kPackedValues = 8;  // 16-bit values per 16-byte load

__device__ __forceinline__ float2 Widen2(uint32_t bits, const __nv_bfloat16*) {
  return __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&bits));
}
__device__ __forceinline__ float2 Widen2(uint32_t bits, const __half*) {
  return __half22float2(*reinterpret_cast<const __half2*>(&bits));
}

// Dot product of 8 packed 16-bit values of type T with x[0, 8) (16-byte aligned).
template <typename T>
__device__ __forceinline__ float Dot8(uint4 packed, const float* x) {
  const float4 lo = reinterpret_cast<const float4*>(x)[0];
  const float4 hi = reinterpret_cast<const float4*>(x)[1];
  const float2 w0 = Widen2(packed.x, static_cast<const T*>(nullptr));
  const float2 w1 = Widen2(packed.y, static_cast<const T*>(nullptr));
  const float2 w2 = Widen2(packed.z, static_cast<const T*>(nullptr));
  const float2 w3 = Widen2(packed.w, static_cast<const T*>(nullptr));
  return w0.x * lo.x + w0.y * lo.y + w1.x * lo.z + w1.y * lo.w + w2.x * hi.x + w2.y * hi.y +
         w3.x * hi.z + w3.y * hi.w;
}

// The sum of the squares of x[0, 8) (16-byte aligned).
__device__ __forceinline__ float SquareSum8(const float* x) {
  const float4 lo = reinterpret_cast<const float4*>(x)[0];
  const float4 hi = reinterpret_cast<const float4*>(x)[1];
  return lo.x * lo.x + lo.y * lo.y + lo.z * lo.z + lo.w * lo.w + hi.x * hi.x + hi.y * hi.y +
         hi.z * hi.z + hi.w * hi.w;
}

}  // namespace ssm::kernels::cuda

#endif  // SSM_KERNELS_CUDA_PACKED_DOT_CUH_
