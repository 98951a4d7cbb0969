#ifndef SSM_KERNELS_CUDA_L2_PREFETCH_CUH_
#define SSM_KERNELS_CUDA_L2_PREFETCH_CUH_

// The device side of L2Prefetch (l2_prefetch.h). Internal to kernels/cuda.
#include <cstdint>

#include "kernels/cuda/l2_prefetch.h"

namespace ssm::kernels::cuda {

// Issues this thread's share of the request: the regions are cut into pieces of kPiece bytes,
// dealt out over every thread of the grid, so that the requests leave from every SM rather than
// from a few. cp.async.bulk.prefetch (sm_90) hands a piece to the SM's copy engine and returns at
// once: the kernel's own loads are not held up, and no register waits for the data.
__device__ __forceinline__ void RequestL2Prefetch(const L2Prefetch& request) {
  constexpr int64_t kPiece = 16 * 1024;
  const int64_t block =
      blockIdx.x +
      static_cast<int64_t>(gridDim.x) * (blockIdx.y + static_cast<int64_t>(gridDim.y) * blockIdx.z);
  const int64_t threads = static_cast<int64_t>(gridDim.x) * gridDim.y * gridDim.z * blockDim.x;
  int64_t piece = block * blockDim.x + threadIdx.x;
#pragma unroll
  for (int r = 0; r < L2Prefetch::kMaxRegions; ++r) {
    const int64_t bytes = request.bytes[r] / 16 * 16;
    const int64_t pieces = (bytes + kPiece - 1) / kPiece;
    for (; piece < pieces; piece += threads) {
      const char* first = static_cast<const char*>(request.data[r]) + piece * kPiece;
      const uint32_t size =
          static_cast<uint32_t>(bytes - piece * kPiece < kPiece ? bytes - piece * kPiece : kPiece);
      asm volatile(
          "cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(__cvta_generic_to_global(first)),
          "r"(size)
          : "memory");
    }
    piece -= pieces;  // the next region's pieces continue the count
  }
}

}  // namespace ssm::kernels::cuda

#endif  // SSM_KERNELS_CUDA_L2_PREFETCH_CUH_
