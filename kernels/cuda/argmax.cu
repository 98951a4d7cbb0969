#include "kernels/cuda/argmax.h"

namespace ssm::kernels::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;

struct Best {
  float value;
  int64_t index;
};

__device__ __forceinline__ Best Better(Best a, Best b) {
  return (b.value > a.value || (b.value == a.value && b.index < a.index)) ? b : a;
}

__device__ __forceinline__ Best WarpBest(Best best) {
  for (int offset = 16; offset > 0; offset /= 2) {
    const Best other{__shfl_xor_sync(0xffffffffu, best.value, offset),
                     __shfl_xor_sync(0xffffffffu, best.index, offset)};
    best = Better(best, other);
  }
  return best;
}

// One block per row: strided scan per thread, then warps, then the block.
__global__ void ArgMaxKernel(const float* values, int64_t width, int32_t* out) {
  const float* row = values + static_cast<int64_t>(blockIdx.x) * width;
  Best best{-INFINITY, width};
  for (int64_t i = threadIdx.x; i < width; i += kThreads) best = Better(best, {row[i], i});
  best = WarpBest(best);
  __shared__ Best per_warp[kWarps];
  if (threadIdx.x % 32 == 0) per_warp[threadIdx.x / 32] = best;
  __syncthreads();
  if (threadIdx.x < 32) {
    best = threadIdx.x < kWarps ? per_warp[threadIdx.x] : Best{-INFINITY, width};
    best = WarpBest(best);
    if (threadIdx.x == 0)
      out[blockIdx.x] = static_cast<int32_t>(best.index < width ? best.index : 0);
  }
}

}  // namespace

void ArgMaxRows(const float* values, int rows, int64_t width, int32_t* out, cudaStream_t stream) {
  ArgMaxKernel<<<rows, kThreads, 0, stream>>>(values, width, out);
}

}  // namespace ssm::kernels::cuda
