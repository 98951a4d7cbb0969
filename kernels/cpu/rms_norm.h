#ifndef SSM_KERNELS_CPU_RMS_NORM_H_
#define SSM_KERNELS_CPU_RMS_NORM_H_

#include <cstdint>

namespace ssm::kernels::cpu {

// out[r, :] = x[r, :] / sqrt(mean(x[r, :]^2) + eps) * weight, for each of `rows` rows of `dim`.
void RmsNorm(const float* x, const float* weight, int64_t rows, int64_t dim, float eps, float* out);

// Mamba-2's gated RMSNorm (mamba_ssm RMSNormGated, norm_before_gate=False), in place on y:
//   y = normalize(y * silu(z)) * weight
// where normalize runs separately over each group of `group_size` channels (d_inner / n_groups).
// z rows have stride ldz.
void GatedRmsNorm(float* y, const float* z, int64_t ldz, const float* weight, int64_t rows,
                  int64_t dim, int64_t group_size, float eps);

}  // namespace ssm::kernels::cpu

#endif  // SSM_KERNELS_CPU_RMS_NORM_H_
