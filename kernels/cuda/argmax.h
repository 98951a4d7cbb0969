#ifndef SSM_KERNELS_CUDA_ARGMAX_H_
#define SSM_KERNELS_CUDA_ARGMAX_H_

#include <cuda_runtime.h>

#include <cstdint>

namespace ssm::kernels::cuda {

// out[r] = the index of the largest value of row r of a dense [rows, width] block; the first
// one on ties, like torch.argmax and kernels' CPU counterpart ssm::ArgMax.
void ArgMaxRows(const float* values, int rows, int64_t width, int32_t* out, cudaStream_t stream);

}  // namespace ssm::kernels::cuda

#endif  // SSM_KERNELS_CUDA_ARGMAX_H_
