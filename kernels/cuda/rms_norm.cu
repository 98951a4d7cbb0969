#include <cub/block/block_reduce.cuh>

#include "kernels/cuda/numeric.cuh"
#include "kernels/cuda/overlapped_launch.cuh"
#include "kernels/cuda/rms_norm.h"

namespace ssm::kernels::cuda {
namespace {

// The sum of a value per thread over the block, broadcast to every thread.
template <int kThreads>
__device__ float BlockTotal(float partial) {
  using BlockSum = cub::BlockReduce<float, kThreads>;
  __shared__ typename BlockSum::TempStorage storage;
  __shared__ float total;
  const float sum = BlockSum(storage).Sum(partial);
  if (threadIdx.x == 0) total = sum;
  __syncthreads();
  return total;
}

// One block per output row.
constexpr int kRowThreads = 256;
__global__ void RmsNormRows(const float* x, const int32_t* rows, int64_t width, const float* weight,
                            float eps, void* out, ElementType out_type) {
  WaitForPreviousKernel();  // nothing to load before it but a row index
  LetNextKernelStart();
  const int64_t row = rows != nullptr ? rows[blockIdx.x] : blockIdx.x;
  const float* in = x + row * width;
  float squares = 0.0f;
#pragma unroll 4
  for (int64_t i = threadIdx.x; i < width; i += kRowThreads) squares += in[i] * in[i];
  const float scale = rsqrtf(BlockTotal<kRowThreads>(squares) / width + eps);
  const int64_t first = static_cast<int64_t>(blockIdx.x) * width;
  for (int64_t i = threadIdx.x; i < width; i += kRowThreads) {
    StoreAs(out, first + i, out_type, in[i] * scale * (weight != nullptr ? weight[i] : 1.0f));
  }
}

// One block per (token, group): the group's sum of squares, then its values scaled. The first
// loop only loads, so its loads go out together (a version that wrote into y in its first loop
// made each iteration wait on the last store: ~20 us a call on the H200).
template <int kThreads>
__global__ void RmsNormGroups(const float* y, int64_t ldy, int64_t group_size, float eps, void* out,
                              ElementType out_type, int64_t ldo) {
  WaitForPreviousKernel();  // y is the previous kernel's
  LetNextKernelStart();
  const int64_t token = blockIdx.x, first = blockIdx.y * group_size;
  const float* v = y + token * ldy + first;
  float squares = 0.0f;
#pragma unroll 4
  for (int64_t i = threadIdx.x; i < group_size; i += kThreads) squares += v[i] * v[i];
  const float scale = rsqrtf(BlockTotal<kThreads>(squares) / group_size + eps);
  for (int64_t i = threadIdx.x; i < group_size; i += kThreads) {
    StoreAs(out, token * ldo + first + i, out_type, v[i] * scale);
  }
}

}  // namespace

void RmsNorm(const float* x, const int32_t* rows, int num_rows, int64_t width, const float* weight,
             float eps, void* out, ElementType out_type, cudaStream_t stream) {
  LaunchOverlapped(RmsNormRows, num_rows, kRowThreads, 0, stream, x, rows, width, weight, eps, out,
                   out_type);
}

void RmsNormGroups(const float* y, int64_t ldy, int num_tokens, int64_t width, int64_t group_size,
                   float eps, void* out, ElementType out_type, int64_t ldo, cudaStream_t stream) {
  const dim3 grid(num_tokens, width / group_size);
  // A few blocks (a decode step of a small batch) take a thread per few elements, so that each
  // block's chain of loads is short; many blocks run best smaller (with 1,024 threads,
  // RmsNormRows over a prefill's 8,192 rows took 2.6x as long).
  constexpr unsigned kFewBlocks = 256;
  auto launch = [&](auto kernel, int threads) {
    LaunchOverlapped(kernel, grid, threads, 0, stream, y, ldy, group_size, eps, out, out_type, ldo);
  };
  if (grid.x * grid.y < kFewBlocks) {
    launch(RmsNormGroups<1024>, 1024);
  } else {
    launch(RmsNormGroups<256>, 256);
  }
}

}  // namespace ssm::kernels::cuda
