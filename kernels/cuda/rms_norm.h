#ifndef SSM_KERNELS_CUDA_RMS_NORM_H_
#define SSM_KERNELS_CUDA_RMS_NORM_H_

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/element_type.h"

namespace ssm::kernels::cuda {

// out[r, :] = x[row(r), :] / sqrt(mean(x[row(r), :]^2) + eps) * weight, for r < num_rows, where
// row(r) = rows[r] when rows is given (e.g. each sequence's last token) and r otherwise.
// x is dense [*, width] fp32, out dense [num_rows, width] of out_type; a null weight is all ones
// (a weight folded elsewhere).
void RmsNorm(const float* x, const int32_t* rows, int num_rows, int64_t width, const float* weight,
             float eps, void* out, ElementType out_type, cudaStream_t stream);

// Mamba-2's gated RMSNorm after its gate and without its weight: out = y / rms_per_group(y), in
// groups of group_size consecutive channels, y [tokens, width] at row stride ldy into out (row
// stride ldo, of out_type; may be y itself when that is fp32). The CUDA backend has the scan
// apply the gate (y * silu(z)) and folds the norm's weight into out_proj's columns.
void RmsNormGroups(const float* y, int64_t ldy, int num_tokens, int64_t width, int64_t group_size,
                   float eps, void* out, ElementType out_type, int64_t ldo, cudaStream_t stream);

}  // namespace ssm::kernels::cuda

#endif  // SSM_KERNELS_CUDA_RMS_NORM_H_
