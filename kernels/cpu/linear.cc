#include "kernels/cpu/linear.h"

#include <blis.h>
#include <cblas.h>
#include <immintrin.h>
#include <omp.h>

namespace ssm::kernels::cpu {
namespace {

float HorizontalSum(__m256 v) {
  __m128 sum = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  sum = _mm_hadd_ps(sum, sum);
  return _mm_cvtss_f32(_mm_hadd_ps(sum, sum));
}

// y[o] += x . weight[o, :] with the output rows split over OpenMP threads. Decoding one sequence
// is bound by reading the weights, and BLIS runs matrix-vector products on one thread only, so
// this loop streams the weights about 1.5x faster (docs/benchmarks.md has the figures).
void MatrixVector(const float* x, int64_t in, const float* weight, int64_t out, float* y) {
#pragma omp parallel for schedule(static)
  for (int64_t o = 0; o < out; ++o) {
    const float* w = weight + o * in;
    __m256 acc = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= in; i += 8)
      acc = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(w + i), acc);
    float sum = HorizontalSum(acc);
    for (; i < in; ++i) sum += x[i] * w[i];
    y[o] += sum;
  }
}

// BLIS starts single-threaded unless told otherwise; give it the OpenMP thread count
// (OMP_NUM_THREADS, else all cores) once, before the first multiplication.
void UseAllThreadsInBlis() {
  static const bool done = [] {
    bli_thread_set_num_threads(omp_get_max_threads());
    return true;
  }();
  (void)done;
}

}  // namespace

void Linear(const float* x, int64_t ldx, int64_t rows, int64_t in, const float* weight, int64_t out,
            const float* bias, float* y, int64_t ldy, bool accumulate) {
  if (rows == 0) return;
  // Start from the bias (plus the old y when accumulating) and add the product onto it.
  for (int64_t r = 0; r < rows; ++r) {
    float* row = y + r * ldy;
    for (int64_t o = 0; o < out; ++o) {
      row[o] = (accumulate ? row[o] : 0.0f) + (bias != nullptr ? bias[o] : 0.0f);
    }
  }
  if (rows == 1) {
    MatrixVector(x, in, weight, out, y);
    return;
  }
  UseAllThreadsInBlis();
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, out, in, 1.0f, x, ldx, weight, in,
              1.0f, y, ldy);
}

}  // namespace ssm::kernels::cpu
