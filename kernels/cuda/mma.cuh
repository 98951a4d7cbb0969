#ifndef SSM_KERNELS_CUDA_MMA_CUH_
#define SSM_KERNELS_CUDA_MMA_CUH_

// One tensor-core tile product, mma.sync m16n8k16 with fp32 accumulators, for the kernels that
// feed it their own fragments. Internal to kernels/cuda.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

namespace ssm::kernels::cuda {

// d (16 x 8) += a (16 x 16) . b (16 x 8), a and b of the 16-bit type T (bf16 or f16), two values
// to a register, low half first. PTX's fragment layout: lane (g, q) = (lane / 4, lane % 4) holds
//   a0 = a[g][2q, 2q + 1], a1 = a[g + 8][2q, 2q + 1], a2 = a[g][2q + 8, 2q + 9],
//   a3 = a[g + 8][2q + 8, 2q + 9]; b0 = b[2q, 2q + 1][g], b1 = b[2q + 8, 2q + 9][g];
//   d[0], d[1] = d[g][2q, 2q + 1]; d[2], d[3] = d[g + 8][2q, 2q + 1].
template <typename T>
__device__ __forceinline__ void MmaTile(float (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2,
                                        uint32_t a3, uint32_t b0, uint32_t b1) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  } else {
    static_assert(std::is_same_v<T, __half>, "bf16 or f16");
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  }
}

}  // namespace ssm::kernels::cuda

#endif  // SSM_KERNELS_CUDA_MMA_CUH_
