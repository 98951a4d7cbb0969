#include "kernels/cpu/selective_scan.h"

#include <algorithm>
#include <cmath>

#include "kernels/cpu/simd_math.h"

namespace ssm::kernels::cpu {
namespace {

constexpr int64_t kChannelBlock = 32;

// One channel's state update for one token; returns C . h. d_state a multiple of 8 runs 8 lanes
// at a time with the inline exp, others (small test models) take the plain loop.
float UpdateChannel(float* h, const float* A, const float* B, const float* C, int64_t d_state,
                    float step, float x) {
  if (d_state % 8 == 0) {
    const __m256 vstep = _mm256_set1_ps(step), vstep_x = _mm256_set1_ps(step * x);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t n = 0; n < d_state; n += 8) {
      const __m256 decay = Exp8(_mm256_mul_ps(vstep, _mm256_loadu_ps(A + n)));
      const __m256 hn = _mm256_fmadd_ps(_mm256_loadu_ps(h + n), decay,
                                        _mm256_mul_ps(vstep_x, _mm256_loadu_ps(B + n)));
      _mm256_storeu_ps(h + n, hn);
      acc = _mm256_fmadd_ps(hn, _mm256_loadu_ps(C + n), acc);
    }
    return Sum8(acc);
  }
  float acc = 0.0f;
  for (int64_t n = 0; n < d_state; ++n) {
    h[n] = h[n] * std::exp(step * A[n]) + step * B[n] * x;
    acc += h[n] * C[n];
  }
  return acc;
}

// Channels [d0, d1) of one sequence, token by token. softplus is taken for the whole block at
// once so that it vectorizes; the update over the state runs 8 lanes wide.
void ScanBlock(const SequenceSlice& seq, const SelectiveScanArgs& a, int64_t d0, int64_t d1) {
  float delta[kChannelBlock];
  for (int64_t t = seq.begin; t < seq.begin + seq.length; ++t) {
    const float* dt = a.dt + t * a.lddt;
#pragma omp simd
    for (int64_t d = d0; d < d1; ++d) delta[d - d0] = Softplus(dt[d]);
    const float* B = a.B + t * a.ldbc;
    const float* C = a.C + t * a.ldbc;
    for (int64_t d = d0; d < d1; ++d) {
      float* h = seq.ssm_state + d * a.d_state;
      const float* A = a.A + d * a.d_state;
      const float x = a.x[t * a.ldx + d];
      const float step = delta[d - d0];
      const float acc = UpdateChannel(h, A, B, C, a.d_state, step, x);
      a.y[t * a.ldy + d] = (acc + a.D[d] * x) * Silu(a.z[t * a.ldz + d]);
    }
  }
}

}  // namespace

void SelectiveScan(std::span<const SequenceSlice> sequences, const SelectiveScanArgs& args) {
  const int64_t blocks = (args.d_inner + kChannelBlock - 1) / kChannelBlock;
  const int64_t num_sequences = static_cast<int64_t>(sequences.size());
#pragma omp parallel for collapse(2) schedule(dynamic)
  for (int64_t s = 0; s < num_sequences; ++s) {
    for (int64_t b = 0; b < blocks; ++b) {
      ScanBlock(sequences[s], args, b * kChannelBlock,
                std::min(args.d_inner, (b + 1) * kChannelBlock));
    }
  }
}

}  // namespace ssm::kernels::cpu
