#include "kernels/cpu/selective_scan.h"

#include <algorithm>
#include <cmath>

namespace ssm::kernels::cpu {
namespace {

constexpr int64_t kChannelBlock = 32;

void ScanChannel(const SequenceSlice& seq, const SelectiveScanArgs& a, int64_t d) {
  float* h = seq.ssm_state + d * a.d_state;
  const float* A = a.A + d * a.d_state;
  for (int64_t t = seq.begin; t < seq.begin + seq.length; ++t) {
    const float delta = Softplus(a.dt[t * a.lddt + d]);
    const float x = a.x[t * a.ldx + d];
    const float* B = a.B + t * a.ldbc;
    const float* C = a.C + t * a.ldbc;
    float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
    for (int64_t n = 0; n < a.d_state; ++n) {
      h[n] = h[n] * std::exp(delta * A[n]) + delta * B[n] * x;
      acc += h[n] * C[n];
    }
    a.y[t * a.ldy + d] = (acc + a.D[d] * x) * Silu(a.z[t * a.ldz + d]);
  }
}

}  // namespace

void SelectiveScan(std::span<const SequenceSlice> sequences, const SelectiveScanArgs& args) {
  const int64_t blocks = (args.d_inner + kChannelBlock - 1) / kChannelBlock;
  const int64_t num_sequences = static_cast<int64_t>(sequences.size());
#pragma omp parallel for collapse(2) schedule(dynamic)
  for (int64_t s = 0; s < num_sequences; ++s) {
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t end = std::min(args.d_inner, (b + 1) * kChannelBlock);
      for (int64_t d = b * kChannelBlock; d < end; ++d) ScanChannel(sequences[s], args, d);
    }
  }
}

}  // namespace ssm::kernels::cpu
