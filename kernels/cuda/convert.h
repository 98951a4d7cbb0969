#ifndef SSM_KERNELS_CUDA_CONVERT_H_
#define SSM_KERNELS_CUDA_CONVERT_H_

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/element_type.h"

namespace ssm::kernels::cuda {

// out[r, c] = in[r, c] rounded to `type` (nearest even), for a [rows, cols] block of fp32 with
// row stride ld; out is dense.
void Narrow(const float* in, int64_t rows, int64_t cols, int64_t ld, void* out, ElementType type,
            cudaStream_t stream);

// out[r, c] += bias[c] for a [rows, cols] block with row stride ld.
void AddBias(float* out, int64_t rows, int64_t cols, int64_t ld, const float* bias,
             cudaStream_t stream);

}  // namespace ssm::kernels::cuda

#endif  // SSM_KERNELS_CUDA_CONVERT_H_
