#include "kernels/cpu/linear.h"

#include <cblas.h>

namespace ssm::kernels::cpu {

void Linear(const float* x, int64_t ldx, int64_t rows, int64_t in, const float* weight,
            int64_t out, const float* bias, float* y, int64_t ldy, bool accumulate) {
  if (rows == 0) return;
  float beta = accumulate ? 1.0f : 0.0f;
  if (bias != nullptr) {
    // Seed y with the bias and let the GEMM accumulate onto it.
    for (int64_t r = 0; r < rows; ++r) {
      float* row = y + r * ldy;
      for (int64_t o = 0; o < out; ++o) row[o] = (accumulate ? row[o] : 0.0f) + bias[o];
    }
    beta = 1.0f;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, out, in, 1.0f, x, ldx, weight, in,
              beta, y, ldy);
}

}  // namespace ssm::kernels::cpu
