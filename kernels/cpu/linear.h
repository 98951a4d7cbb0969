#ifndef SSM_KERNELS_CPU_LINEAR_H_
#define SSM_KERNELS_CPU_LINEAR_H_

#include <cstdint>

namespace ssm::kernels::cpu {

// A PyTorch Linear layer over a block of rows, through BLAS:
//   y[r, :] = x[r, :in] . weight^T (+ bias) (+ y[r, :] when accumulate)
// weight is [out, in] row-major, as checkpoints store it. ldx and ldy are row strides, so a
// column block of a wider activation can be used in place. accumulate fuses a residual add.
void Linear(const float* x, int64_t ldx, int64_t rows, int64_t in, const float* weight, int64_t out,
            const float* bias, float* y, int64_t ldy, bool accumulate = false);

}  // namespace ssm::kernels::cpu

#endif  // SSM_KERNELS_CPU_LINEAR_H_
