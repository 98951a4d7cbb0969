#include "kernels/cpu/multi_head_scan.h"

#include <algorithm>
#include <cmath>

namespace ssm::kernels::cpu {
namespace {

void ScanHead(const SequenceSlice& seq, const MultiHeadScanArgs& a, int64_t head) {
  const int64_t group = head / (a.heads / a.groups);
  const int64_t N = a.d_state;
  float* state = seq.ssm_state + head * a.head_dim * N;
  for (int64_t t = seq.begin; t < seq.begin + seq.length; ++t) {
    const float delta =
        std::clamp(Softplus(a.dt[t * a.lddt + head] + a.dt_bias[head]), a.dt_min, a.dt_max);
    const float decay = std::exp(delta * a.A[head]);
    const float* x = a.x + t * a.ldxbc + head * a.head_dim;
    const float* B = a.B + t * a.ldxbc + group * N;
    const float* C = a.C + t * a.ldxbc + group * N;
    float* y = a.y + t * a.ldy + head * a.head_dim;
    for (int64_t p = 0; p < a.head_dim; ++p) {
      float* h = state + p * N;
      const float scaled_x = delta * x[p];
      float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
      for (int64_t n = 0; n < N; ++n) {
        h[n] = h[n] * decay + scaled_x * B[n];
        acc += h[n] * C[n];
      }
      y[p] = acc + a.D[head] * x[p];
    }
  }
}

}  // namespace

void MultiHeadScan(std::span<const SequenceSlice> sequences, const MultiHeadScanArgs& args) {
  const int64_t num_sequences = static_cast<int64_t>(sequences.size());
#pragma omp parallel for collapse(2) schedule(dynamic)
  for (int64_t s = 0; s < num_sequences; ++s) {
    for (int64_t h = 0; h < args.heads; ++h) ScanHead(sequences[s], args, h);
  }
}

}  // namespace ssm::kernels::cpu
