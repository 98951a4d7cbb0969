#ifndef SSM_KERNELS_CUDA_SCAN_COMMON_CUH_
#define SSM_KERNELS_CUDA_SCAN_COMMON_CUH_

// What the scan's kernels share (selective_scan.cu, scan_one_token.cu, scan_chunk_rows.cu,
// ssd_chunks.cu): the step size, the decay, the chunked scan's workspace, and loading and storing
// runs of state. Internal to kernels/cuda.
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

// A row's dot product C . state, summed over the kLanes lanes that hold parts of it.
template <int kLanes>
__device__ __forceinline__ float SumOverLanes(float partial) {
#pragma unroll
  for (int offset = kLanes / 2; offset > 0; offset /= 2) {
    partial += __shfl_xor_sync(0xffffffffu, partial, offset, kLanes);
  }
  return partial;
}

// What a block of ScanRows scans: a whole sequence, continuing its slot's state (kWhole), or one
// chunk of kScanChunkTokens tokens of it (blockIdx.z), either from a zero state, keeping only the
// chunk's final state and its summed step sizes (kChunkEnds), or from the chunk's true start
// state, keeping only the outputs (kChunkOutputs).
enum class Span { kWhole, kChunkEnds, kChunkOutputs };

// A run of kCount consecutive floats, in 16-byte loads where the address allows it (the flag
// is the same for every thread of a launch, so the branch does not diverge).
template <int kCount>
__device__ __forceinline__ void LoadRun(const float* p, bool vector, float (&v)[kCount]) {
  if (kCount % 4 == 0 && vector) {
#pragma unroll
    for (int i = 0; i < kCount / 4; ++i) {
      const float4 q = reinterpret_cast<const float4*>(p)[i];
      v[4 * i] = q.x, v[4 * i + 1] = q.y, v[4 * i + 2] = q.z, v[4 * i + 3] = q.w;
    }
  } else {
#pragma unroll
    for (int i = 0; i < kCount; ++i) v[i] = p[i];
  }
}

template <int kCount>
__device__ __forceinline__ void StoreRun(float* p, bool vector, const float (&v)[kCount]) {
  if (kCount % 4 == 0 && vector) {
#pragma unroll
    for (int i = 0; i < kCount / 4; ++i) {
      reinterpret_cast<float4*>(p)[i] =
          make_float4(v[4 * i], v[4 * i + 1], v[4 * i + 2], v[4 * i + 3]);
    }
  } else {
#pragma unroll
    for (int i = 0; i < kCount; ++i) p[i] = v[i];
  }
}

// The same for a state stored in bf16: four values per 8-byte access, widened to fp32 for the
// math and rounded to nearest on the way back.
template <int kCount>
__device__ __forceinline__ void LoadRun(const __nv_bfloat16* p, bool vector, float (&v)[kCount]) {
  if (kCount % 4 == 0 && vector) {
#pragma unroll
    for (int i = 0; i < kCount / 4; ++i) {
      const uint2 q = reinterpret_cast<const uint2*>(p)[i];
      const float2 low = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&q.x));
      const float2 high = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&q.y));
      v[4 * i] = low.x, v[4 * i + 1] = low.y, v[4 * i + 2] = high.x, v[4 * i + 3] = high.y;
    }
  } else {
#pragma unroll
    for (int i = 0; i < kCount; ++i) v[i] = __bfloat162float(p[i]);
  }
}

template <int kCount>
__device__ __forceinline__ void StoreRun(__nv_bfloat16* p, bool vector, const float (&v)[kCount]) {
  if (kCount % 4 == 0 && vector) {
#pragma unroll
    for (int i = 0; i < kCount / 4; ++i) {
      const __nv_bfloat162 low = __floats2bfloat162_rn(v[4 * i], v[4 * i + 1]);
      const __nv_bfloat162 high = __floats2bfloat162_rn(v[4 * i + 2], v[4 * i + 3]);
      uint2 q;
      q.x = *reinterpret_cast<const unsigned*>(&low);
      q.y = *reinterpret_cast<const unsigned*>(&high);
      reinterpret_cast<uint2*>(p)[i] = q;
    }
  } else {
#pragma unroll
    for (int i = 0; i < kCount; ++i) p[i] = __float2bfloat16_rn(v[i]);
  }
}

// A of a thread's kCount consecutive state elements from `first` (one per state, or the head's
// one), scaled by log2(e) for Decay.
template <int kCount>
__device__ __forceinline__ void LoadDecayRates(const ScanArgs& a, int64_t head, int states,
                                               int first, bool vector, float (&A)[kCount]) {
  if (a.a_per_state) {
    LoadRun(a.A + head * states + first, vector, A);
  } else {
#pragma unroll
    for (int i = 0; i < kCount; ++i) A[i] = a.A[head];
  }
#pragma unroll
  for (int i = 0; i < kCount; ++i) A[i] *= kLog2e;
}

// Where a slot's SSM state for `layer` starts, stored as StateT (after the fp32 conv window).
template <typename StateT>
__device__ __forceinline__ StateT* SlotState(const StatePool& pool, int32_t slot, int64_t layer,
                                             int64_t conv_floats) {
  return reinterpret_cast<StateT*>(pool.Layer(slot, layer) + conv_floats);
}

// Which runs of a thread's kPerLane consecutive state elements (and B, C, A values) may be loaded
// 16 bytes (bf16 state: 8 bytes) at a time: the same for every thread of a launch.
struct VectorRuns {
  bool state, bc, A;
};

template <int kPerLane>
inline VectorRuns VectorRunsFor(const StatePool& pool, int64_t conv_floats, const ScanArgs& args) {
  return {.state = Aligned16(pool.base) &&
                   (pool.slot_floats | pool.layer_floats | conv_floats | kPerLane) % 4 == 0,
          .bc = Aligned16(args.B) && Aligned16(args.C) && args.ldbc % 4 == 0,
          .A = Aligned16(args.A)};
}

}  // namespace ssm::kernels::cuda

#endif  // SSM_KERNELS_CUDA_SCAN_COMMON_CUH_
