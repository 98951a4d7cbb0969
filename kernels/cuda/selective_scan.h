#ifndef SSM_KERNELS_CUDA_SELECTIVE_SCAN_H_
#define SSM_KERNELS_CUDA_SELECTIVE_SCAN_H_

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/element_type.h"
#include "kernels/cuda/step_layout.h"

namespace ssm::kernels::cuda {

// The selective state update of both Mamba generations, as one recurrence over "rows": each row
// r carries d_state values of state, and belongs to head r / head_dim, which reads B and C of
// group head / heads_per_group. Per token:
//   delta = clamp(softplus(dt[head] + dt_bias[head]), dt_min, dt_max)
//   state[r, n] = state[r, n] * exp(delta * A[head, n or 0]) + delta * x[r] * B[group, n]
//   y[r] = (C[group, :] . state[r, :] + D[head] * x[r]) * (z ? silu(z[r]) : 1)
// Mamba-1 (kernels/cpu/selective_scan.h): rows = d_inner, head_dim = 1, one group, A per state
// element, gated by z. Mamba-2 (kernels/cpu/multi_head_scan.h): rows = heads * head_dim, a scalar
// A per head, dt limits; the CUDA backend gives it z too, so that the gated RMSNorm that follows
// (of y * silu(z)) is a plain one.
struct ScanArgs {
  int64_t rows = 0;
  int64_t head_dim = 1;
  int64_t heads_per_group = 0;
  int d_state = 0;
  const float* x = nullptr;  // [tokens, rows]
  int64_t ldx = 0;
  const float* dt = nullptr;  // [tokens, heads] raw
  int64_t lddt = 0;
  // Or, only in a decode step (ScanTakesLowRankStepSize says when), dt in its low-rank form, as
  // Mamba-1's dt_proj makes it: dt[t, r] = dt[t, :dt_rank] . dt_proj[r, :], dt_proj being
  // [rows, dt_rank] in f16 or bf16. The scan then computes it itself, and a small batch's step
  // has one kernel per layer fewer.
  const void* dt_proj = nullptr;
  ElementType dt_proj_type = ElementType::kBF16;
  int dt_rank = 0;
  const float* dt_bias = nullptr;  // [heads] or nullptr
  float dt_min = 0.0f;
  float dt_max = 0.0f;
  const float* B = nullptr;  // [tokens, groups * d_state]
  const float* C = nullptr;
  int64_t ldbc = 0;
  const float* A = nullptr;  // [heads, d_state] if a_per_state, else [heads]; = -exp(A_log)
  bool a_per_state = false;
  const float* D = nullptr;  // [heads]
  const float* z = nullptr;  // [tokens, rows] or nullptr
  int64_t ldz = 0;
  void* y = nullptr;  // [tokens, rows] of y_type
  int64_t ldy = 0;
  ElementType y_type = ElementType::kF32;
  // How the slots store the SSM state: fp32, or bf16 (half the bytes; the math stays fp32).
  ElementType state_type = ElementType::kF32;
  // Whether the chunked scan's products of Mamba-2 heads (ssd_chunks.h) may round their factors
  // (x, B, C, the scores and the chunks' start states) to bf16 and run on the tensor cores,
  // accumulating in fp32: what a model of 16-bit matrices can take, as reference Mamba-2
  // kernels do. Else they multiply in fp32.
  bool bf16_chunk_products = false;
  // Room for the chunked scan of long sequences: ScanWorkspaceFloats(...) floats for steps of
  // up to that many tokens. Without it, every sequence runs token by token.
  float* workspace = nullptr;
  int64_t workspace_floats = 0;
};

// Sequences are scanned in chunks of this many tokens when a step's sequences average at least
// two chunks (prefill); shorter steps run token by token in one pass.
inline constexpr int kScanChunkTokens = 128;

// The workspace a step of up to `tokens` tokens needs for its chunked scan.
int64_t ScanWorkspaceFloats(int64_t tokens, int64_t rows, int d_state, int64_t heads,
                            int64_t groups);

// Runs the recurrence over every sequence of the step, starting from and writing back the SSM
// state of its slot (layer `layer`, after the conv window of conv_floats floats, stored as
// args.state_type). Sequences and
// rows run in parallel. Tokens run in order, or, for long sequences, in chunks that run in
// parallel: the recurrence is linear in the state, so each chunk first runs from a zero state,
// then a short pass over the chunks carries the true state from each chunk's start to the next
// (multiplied by the chunk's total decay, exp(A * sum of delta)), and each chunk runs again
// from its true start to produce its outputs. Twice the arithmetic, but a sequence of n tokens
// takes about 2 * kScanChunkTokens + n / kScanChunkTokens steps in a row instead of n.
// d_state must be 8, 16, 32, 64, 128 or 256.
void SelectiveScan(const StepLayout& step, const StatePool& pool, int64_t layer,
                   int64_t conv_floats, const ScanArgs& args, cudaStream_t stream);

bool SelectiveScanSupports(int d_state);

// Whether the scan of a decode step of this many sequences can take dt in its low-rank form
// (args.dt_proj): Mamba-1's rows (one per head), dt_rank a multiple of 8 up to kMaxLowRank, dt
// rows on 16-byte boundaries, and a batch small enough for the one-token scan's one-run form.
inline constexpr int kMaxLowRank = 256;
bool ScanTakesLowRankStepSize(const ScanArgs& args, int sequences);

}  // namespace ssm::kernels::cuda

#endif  // SSM_KERNELS_CUDA_SELECTIVE_SCAN_H_
