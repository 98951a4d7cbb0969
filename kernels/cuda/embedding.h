#ifndef SSM_KERNELS_CUDA_EMBEDDING_H_
#define SSM_KERNELS_CUDA_EMBEDDING_H_

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/element_type.h"

namespace ssm::kernels::cuda {

// out[t, :] = table[tokens[t], :] widened to fp32, for t < num_tokens. table is [vocab, width].
void EmbeddingLookup(const int32_t* tokens, int num_tokens, const void* table, ElementType type,
                     int64_t width, float* out, cudaStream_t stream);

}  // namespace ssm::kernels::cuda

#endif  // SSM_KERNELS_CUDA_EMBEDDING_H_
