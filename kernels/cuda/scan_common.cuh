#ifndef SSM_KERNELS_CUDA_SCAN_COMMON_CUH_
#define SSM_KERNELS_CUDA_SCAN_COMMON_CUH_

// What the scan's kernels share (selective_scan.cu, ssd_chunks.cu): the step size, the decay,
// and the chunked scan's workspace. Internal to kernels/cuda.
#include <cstdint>

#include "kernels/cuda/numeric.cuh"
#include "kernels/cuda/selective_scan.h"
#include "kernels/cuda/step_layout.h"

namespace ssm::kernels::cuda {

// The pieces of one token's update that every scan kernel shares, so that they compute the same
// function. The step size: softplus(dt + bias), clamped to [dt_min, dt_max].
__device__ __forceinline__ float StepSize(float raw_dt, float dt_bias, const ScanArgs& a) {
  return fminf(fmaxf(Softplus(raw_dt + dt_bias), a.dt_min), a.dt_max);
}

// exp(dt * A), with A given as A * log2(e) (scaled once when a kernel loads it): a multiply and
// the hardware's exp2, flushing results below 2^-126 to zero. exp2f compiles to the
// denormal-preserving ex2.approx.f32, which ptxas wraps in a range check and conditional
// rescaling; the prefill scans, where an exp2 per state element and token is most of the work,
// are bound by instruction issue (docs/benchmarks.md), so each update's instructions count. A
// decay that small is zero for any purpose here.
constexpr float kLog2e = 1.4426950408889634f;
__device__ __forceinline__ float Decay(float dt, float a_log2e) {
  float decay;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(decay) : "f"(dt * a_log2e));
  return decay;
}

// y = (C . state + D * x), gated by silu(z) when the model has a gate (Mamba-1).
__device__ __forceinline__ float Output(float dot, float D, float x, float gate,
                                        const ScanArgs& a) {
  const float y = dot + D * x;
  return a.z != nullptr ? y * Silu(gate) : y;
}

// The chunked scan's workspace: per chunk entry, each row's state; then each head's summed step
// size per entry; then (for the SSD form) each group's chunk scores C_t . B_u per entry. Sequence
// s's chunk k is entry seq_begin[s] / kScanChunkTokens + s + k, which is below
// ceil(tokens / kScanChunkTokens) + sequences whatever the lengths.
struct ChunkWorkspace {
  float* states;   // [entries, rows, d_state]
  float* dt_sums;  // [entries, heads]
  float* scores;   // [entries, groups, kScanChunkTokens, kScanChunkTokens]

  __device__ static int64_t Entry(const StepLayout& step, int s, int k) {
    return step.seq_begin[s] / kScanChunkTokens + s + k;
  }
};

inline int64_t ChunkEntries(int64_t tokens, int64_t sequences) {
  return (tokens + kScanChunkTokens - 1) / kScanChunkTokens + sequences;
}

__host__ __device__ inline int64_t Heads(const ScanArgs& a) { return a.rows / a.head_dim; }
__host__ __device__ inline int64_t Groups(const ScanArgs& a) {
  return Heads(a) / a.heads_per_group;
}

inline ChunkWorkspace SplitWorkspace(const ScanArgs& a, int64_t tokens, int64_t sequences) {
  const int64_t entries = ChunkEntries(tokens, sequences);
  float* states = a.workspace;
  float* dt_sums = states + entries * a.rows * a.d_state;
  return {states, dt_sums, dt_sums + entries * Heads(a)};
}

}  // namespace ssm::kernels::cuda

#endif  // SSM_KERNELS_CUDA_SCAN_COMMON_CUH_
