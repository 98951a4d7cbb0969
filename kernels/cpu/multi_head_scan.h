#ifndef SSM_KERNELS_CPU_MULTI_HEAD_SCAN_H_
#define SSM_KERNELS_CPU_MULTI_HEAD_SCAN_H_

#include <cstdint>
#include <span>

#include "kernels/cpu/sequence_slice.h"

namespace ssm::kernels::cpu {

// Inputs of Mamba-2's multi-head scan (SSD as a recurrence), token-major with row strides.
struct MultiHeadScanArgs {
  int64_t heads = 0;
  int64_t head_dim = 0;
  int64_t groups = 0;  // B and C are shared by heads / groups consecutive heads
  int64_t d_state = 0;
  const float* x = nullptr;  // [tokens, heads * head_dim]
  const float* B = nullptr;  // [tokens, groups * d_state]
  const float* C = nullptr;  // [tokens, groups * d_state]
  int64_t ldxbc = 0;         // one stride for x, B and C: they are column blocks of the conv output
  const float* dt = nullptr;  // [tokens, heads] raw, before bias and softplus
  int64_t lddt = 0;
  const float* dt_bias = nullptr;  // [heads]
  float dt_min = 0.0f;             // limits applied after softplus
  float dt_max = 0.0f;
  const float* A = nullptr;  // [heads], = -exp(A_log)
  const float* D = nullptr;  // [heads] skip
  float* y = nullptr;        // [tokens, heads * head_dim], before the gated norm
  int64_t ldy = 0;
};

// For every sequence and head h (group g = h / (heads / groups)), token by token:
//   delta = clamp(softplus(dt + dt_bias[h]), dt_min, dt_max)
//   state[p, :] = state[p, :] * exp(delta * A[h]) + delta * x[p] * B[g, :]
//   y[p] = C[g, :] . state[p, :] + D[h] * x[p]
// starting from and writing back the sequence's ssm_state [heads, head_dim, d_state].
void MultiHeadScan(std::span<const SequenceSlice> sequences, const MultiHeadScanArgs& args);

}  // namespace ssm::kernels::cpu

#endif  // SSM_KERNELS_CPU_MULTI_HEAD_SCAN_H_
