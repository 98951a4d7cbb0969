#include "kernels/cuda/embedding.h"
#include "kernels/cuda/numeric.cuh"

namespace ssm::kernels::cuda {
namespace {

// One block per token row.
template <typename T>
__global__ void GatherRows(const int32_t* tokens, const T* table, int64_t width, float* out) {
  const T* row = table + static_cast<int64_t>(tokens[blockIdx.x]) * width;
  float* dst = out + static_cast<int64_t>(blockIdx.x) * width;
  for (int64_t i = threadIdx.x; i < width; i += blockDim.x) dst[i] = ToFloat(row[i]);
}

}  // namespace

void EmbeddingLookup(const int32_t* tokens, int num_tokens, const void* table, ElementType type,
                     int64_t width, float* out, cudaStream_t stream) {
  DispatchElementType(type, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    GatherRows<T><<<num_tokens, 256, 0, stream>>>(tokens, static_cast<const T*>(table), width, out);
  });
}

}  // namespace ssm::kernels::cuda
