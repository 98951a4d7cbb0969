#include "kernels/cpu/linear.h"

#include <cblas.h>
#include <immintrin.h>

#include <utility>

namespace ssm::kernels::cpu {
namespace {

// Rows up to this many go through StreamWeights instead of BLAS GEMM.
constexpr int64_t kStreamRows = 8;

float HorizontalSum(__m256 v) {
  __m128 sum = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  sum = _mm_hadd_ps(sum, sum);
  return _mm_cvtss_f32(_mm_hadd_ps(sum, sum));
}

// y[r, o] += x[r, :] . weight[o, :] for kRows rows, reading each weight row from memory once
// for all of them, with one AVX2 accumulator per row. Decoding a small batch is bound by reading
// the weights, and OpenBLAS's GEMM packs (copies) the whole weight matrix on every call, which
// makes it 2-3x slower at these sizes (docs/benchmarks.md has the figures).
template <int kRows>
void StreamWeights(const float* x, int64_t ldx, int64_t in, const float* weight, int64_t out,
                   float* y, int64_t ldy) {
#pragma omp parallel for schedule(static)
  for (int64_t o = 0; o < out; ++o) {
    const float* w = weight + o * in;
    __m256 acc[kRows];
    for (int r = 0; r < kRows; ++r) acc[r] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= in; i += 8) {
      const __m256 wv = _mm256_loadu_ps(w + i);
      for (int r = 0; r < kRows; ++r) {
        acc[r] = _mm256_fmadd_ps(_mm256_loadu_ps(x + r * ldx + i), wv, acc[r]);
      }
    }
    for (int r = 0; r < kRows; ++r) {
      float sum = HorizontalSum(acc[r]);
      for (int64_t j = i; j < in; ++j) sum += x[r * ldx + j] * w[j];
      y[r * ldy + o] += sum;
    }
  }
}

template <int... kRows>
void StreamRows(std::integer_sequence<int, kRows...>, const float* x, int64_t ldx, int64_t rows,
                int64_t in, const float* weight, int64_t out, float* y, int64_t ldy) {
  // Calls the instance whose kRows + 1 equals rows.
  ((rows == kRows + 1 ? StreamWeights<kRows + 1>(x, ldx, in, weight, out, y, ldy) : void()), ...);
}

}  // namespace

void Linear(const float* x, int64_t ldx, int64_t rows, int64_t in, const float* weight,
            int64_t out, const float* bias, float* y, int64_t ldy, bool accumulate) {
  if (rows == 0) return;
  // Start from the bias (plus the old y when accumulating) and add the product onto it.
  for (int64_t r = 0; r < rows; ++r) {
    float* row = y + r * ldy;
    for (int64_t o = 0; o < out; ++o) {
      row[o] = (accumulate ? row[o] : 0.0f) + (bias != nullptr ? bias[o] : 0.0f);
    }
  }
  if (rows <= kStreamRows) {
    StreamRows(std::make_integer_sequence<int, kStreamRows>(), x, ldx, rows, in, weight, out, y,
               ldy);
    return;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, out, in, 1.0f, x, ldx, weight, in,
              1.0f, y, ldy);
}

}  // namespace ssm::kernels::cpu
