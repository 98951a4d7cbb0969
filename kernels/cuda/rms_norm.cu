#include <cub/block/block_reduce.cuh>

#include "kernels/cuda/numeric.cuh"
#include "kernels/cuda/rms_norm.h"

namespace ssm::kernels::cuda {
namespace {

constexpr int kThreads = 256;
using BlockSum = cub::BlockReduce<float, kThreads>;

// Sum of squares of v[0, n) over the block, broadcast to every thread.
__device__ float BlockSumOfSquares(const float* v, int64_t n) {
  __shared__ BlockSum::TempStorage storage;
  __shared__ float total;
  float partial = 0.0f;
  for (int64_t i = threadIdx.x; i < n; i += kThreads) partial += v[i] * v[i];
  const float sum = BlockSum(storage).Sum(partial);
  if (threadIdx.x == 0) total = sum;
  __syncthreads();
  return total;
}

// One block per output row.
__global__ void RmsNormRows(const float* x, const int32_t* rows, int64_t width, const float* weight,
                            float eps, void* out, ElementType out_type) {
  const int64_t row = rows != nullptr ? rows[blockIdx.x] : blockIdx.x;
  const float* in = x + row * width;
  const float scale = rsqrtf(BlockSumOfSquares(in, width) / width + eps);
  const int64_t first = static_cast<int64_t>(blockIdx.x) * width;
  for (int64_t i = threadIdx.x; i < width; i += kThreads) {
    StoreAs(out, first + i, out_type, in[i] * scale * (weight != nullptr ? weight[i] : 1.0f));
  }
}

// One block per (token, group): gate, then normalize the group.
__global__ void GatedRmsNormGroups(float* y, int64_t ldy, const float* z, int64_t ldz,
                                   int64_t group_size, const float* weight, float eps, void* out,
                                   ElementType out_type, int64_t ldo) {
  const int64_t token = blockIdx.x, first = blockIdx.y * group_size;
  float* v = y + token * ldy + first;
  const float* gate = z + token * ldz + first;
  for (int64_t i = threadIdx.x; i < group_size; i += kThreads) v[i] *= Silu(gate[i]);
  __syncthreads();
  const float scale = rsqrtf(BlockSumOfSquares(v, group_size) / group_size + eps);
  for (int64_t i = threadIdx.x; i < group_size; i += kThreads) {
    StoreAs(out, token * ldo + first + i, out_type, v[i] * scale * weight[first + i]);
  }
}

}  // namespace

void RmsNorm(const float* x, const int32_t* rows, int num_rows, int64_t width, const float* weight,
             float eps, void* out, ElementType out_type, cudaStream_t stream) {
  RmsNormRows<<<num_rows, kThreads, 0, stream>>>(x, rows, width, weight, eps, out, out_type);
}

void GatedRmsNorm(float* y, int64_t ldy, const float* z, int64_t ldz, int num_tokens, int64_t width,
                  int64_t group_size, const float* weight, float eps, void* out,
                  ElementType out_type, int64_t ldo, cudaStream_t stream) {
  const dim3 grid(num_tokens, width / group_size);
  GatedRmsNormGroups<<<grid, kThreads, 0, stream>>>(y, ldy, z, ldz, group_size, weight, eps, out,
                                                    out_type, ldo);
}

}  // namespace ssm::kernels::cuda
