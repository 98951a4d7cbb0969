#ifndef SSM_KERNELS_CPU_SELECTIVE_SCAN_H_
#define SSM_KERNELS_CPU_SELECTIVE_SCAN_H_

#include <cstdint>
#include <span>

#include "kernels/cpu/sequence_slice.h"

namespace ssm::kernels::cpu {

// Inputs of Mamba-1's selective scan, all token-major with row strides.
struct SelectiveScanArgs {
  int64_t d_inner = 0;
  int64_t d_state = 0;
  const float* x = nullptr;  // [tokens, d_inner] conv output
  int64_t ldx = 0;
  const float* dt = nullptr;  // [tokens, d_inner] dt_proj output incl. bias, before softplus
  int64_t lddt = 0;
  const float* B = nullptr;  // [tokens, d_state]
  const float* C = nullptr;  // [tokens, d_state]
  int64_t ldbc = 0;
  const float* z = nullptr;  // [tokens, d_inner] gate
  int64_t ldz = 0;
  const float* A = nullptr;  // [d_inner, d_state], = -exp(A_log)
  const float* D = nullptr;  // [d_inner] skip
  float* y = nullptr;        // [tokens, d_inner] output
  int64_t ldy = 0;
};

// For every sequence and channel d, token by token (sequentially; this is the reference):
//   delta = softplus(dt);  h = h * exp(delta * A[d]) + delta * B * x
//   y = (C . h + D[d] * x) * silu(z)
// starting from and writing back the sequence's ssm_state [d_inner, d_state].
void SelectiveScan(std::span<const SequenceSlice> sequences, const SelectiveScanArgs& args);

}  // namespace ssm::kernels::cpu

#endif  // SSM_KERNELS_CPU_SELECTIVE_SCAN_H_
