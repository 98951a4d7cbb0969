#include "kernels/cpu/rms_norm.h"

#include <cmath>

#include "kernels/cpu/sequence_slice.h"

namespace ssm::kernels::cpu {
namespace {

void NormalizeInPlace(float* v, const float* weight, int64_t n, float eps) {
  double sum_squares = 0.0;
  for (int64_t i = 0; i < n; ++i) sum_squares += static_cast<double>(v[i]) * v[i];
  const float scale = 1.0f / std::sqrt(static_cast<float>(sum_squares / n) + eps);
  for (int64_t i = 0; i < n; ++i) v[i] = v[i] * scale * weight[i];
}

}  // namespace

void RmsNorm(const float* x, const float* weight, int64_t rows, int64_t dim, float eps,
             float* out) {
#pragma omp parallel for if (rows > 1)
  for (int64_t r = 0; r < rows; ++r) {
    float* o = out + r * dim;
    for (int64_t i = 0; i < dim; ++i) o[i] = x[r * dim + i];
    NormalizeInPlace(o, weight, dim, eps);
  }
}

void GatedRmsNorm(float* y, const float* z, int64_t ldz, const float* weight, int64_t rows,
                  int64_t dim, int64_t group_size, float eps) {
#pragma omp parallel for if (rows > 1)
  for (int64_t r = 0; r < rows; ++r) {
    float* row = y + r * dim;
    const float* gate = z + r * ldz;
    for (int64_t i = 0; i < dim; ++i) row[i] *= Silu(gate[i]);
    for (int64_t g = 0; g < dim; g += group_size) {
      NormalizeInPlace(row + g, weight + g, group_size, eps);
    }
  }
}

}  // namespace ssm::kernels::cpu
