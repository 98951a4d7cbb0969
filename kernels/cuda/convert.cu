#include "kernels/cuda/convert.h"
#include "kernels/cuda/numeric.cuh"

namespace ssm::kernels::cuda {
namespace {

constexpr int kThreads = 256;

int Blocks(int64_t n) { return static_cast<int>((n + kThreads - 1) / kThreads); }

template <typename T>
__global__ void NarrowElements(const float* in, int64_t rows, int64_t cols, int64_t ld, T* out) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (i >= rows * cols) return;
  out[i] = FromFloat<T>(in[(i / cols) * ld + i % cols]);
}

__global__ void AddBiasElements(float* out, int64_t rows, int64_t cols, int64_t ld,
                                const float* bias) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (i >= rows * cols) return;
  out[(i / cols) * ld + i % cols] += bias[i % cols];
}

}  // namespace

void Narrow(const float* in, int64_t rows, int64_t cols, int64_t ld, void* out, ElementType type,
            cudaStream_t stream) {
  DispatchElementType(type, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    NarrowElements<T>
        <<<Blocks(rows * cols), kThreads, 0, stream>>>(in, rows, cols, ld, static_cast<T*>(out));
  });
}

void AddBias(float* out, int64_t rows, int64_t cols, int64_t ld, const float* bias,
             cudaStream_t stream) {
  AddBiasElements<<<Blocks(rows * cols), kThreads, 0, stream>>>(out, rows, cols, ld, bias);
}

}  // namespace ssm::kernels::cuda
