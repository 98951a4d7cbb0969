#include <cstdint>

#include "kernels/cuda/numeric.cuh"
#include "kernels/cuda/selective_scan.h"

namespace ssm::kernels::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kChunk = 8;  // tokens whose inputs are loaded together

// The pieces of one token's update that both scan kernels share, so that they compute the same
// function. The step size: softplus(dt + bias), clamped to [dt_min, dt_max].
__device__ __forceinline__ float StepSize(float raw_dt, float dt_bias, const ScanArgs& a) {
  return fminf(fmaxf(Softplus(raw_dt + dt_bias), a.dt_min), a.dt_max);
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

// y = (C . state + D * x), gated by silu(z) when the model has a gate (Mamba-1).
__device__ __forceinline__ float Output(float dot, float D, float x, float gate,
                                        const ScanArgs& a) {
  const float y = dot + D * x;
  return a.z != nullptr ? y * Silu(gate) : y;
}

// kLanes lanes share a row; lane l holds state elements l, l + kLanes, ... (kPerLane of them),
// so the lanes of a row read B, C and the state coalesced. The row's dot product C . state is
// reduced across its lanes with shuffles.
template <int kLanes, int kPerLane>
__global__ void ScanRows(StepLayout step, StatePool pool, int64_t layer, int64_t conv_floats,
                         ScanArgs a) {
  constexpr int kRowsPerBlock = kThreads / kLanes;
  constexpr int kStates = kLanes * kPerLane;
  const int lane = threadIdx.x % kLanes;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / kLanes;
  // Rows past the end still run (on the last row, without writing), so that every lane of a
  // warp takes part in the shuffles.
  const bool active = row < a.rows;
  const int64_t r = active ? row : a.rows - 1;
  const int s = blockIdx.y;
  const int64_t head = r / a.head_dim, group = head / a.heads_per_group;

  float* state = pool.Layer(step.seq_slot[s], layer) + conv_floats + r * kStates;
  float h[kPerLane], A[kPerLane];
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) {
    h[i] = state[lane + i * kLanes];
    A[i] = a.a_per_state ? a.A[head * kStates + lane + i * kLanes] : a.A[head];
  }
  const float dt_bias = a.dt_bias != nullptr ? a.dt_bias[head] : 0.0f;
  const float D = a.D[head];

  // Tokens go in chunks: a chunk's inputs are all loaded first (independent loads, so their
  // latencies overlap), then the recurrence runs through them. Token by token, every step would
  // wait a full memory round trip.
  const int64_t begin = step.seq_begin[s], end = begin + step.seq_length[s];
  for (int64_t chunk = begin; chunk < end; chunk += kChunk) {
    float x[kChunk], delta[kChunk], gate[kChunk], B[kChunk][kPerLane], C[kChunk][kPerLane];
#pragma unroll
    for (int c = 0; c < kChunk; ++c) {
      const int64_t t = min(chunk + c, end - 1);  // past the end: reloads the last token, unused
      x[c] = a.x[t * a.ldx + r];
      delta[c] = a.dt[t * a.lddt + head];
      gate[c] = a.z != nullptr ? a.z[t * a.ldz + r] : 0.0f;
#pragma unroll
      for (int i = 0; i < kPerLane; ++i) {
        B[c][i] = a.B[t * a.ldbc + group * kStates + lane + i * kLanes];
        C[c][i] = a.C[t * a.ldbc + group * kStates + lane + i * kLanes];
      }
    }
#pragma unroll
    for (int c = 0; c < kChunk; ++c) {
      if (chunk + c < end) {  // uniform across the block: one sequence per block
        const float dt = StepSize(delta[c], dt_bias, a);
        const float shared_decay = a.a_per_state ? 0.0f : expf(dt * A[0]);
        float dot = 0.0f;
#pragma unroll
        for (int i = 0; i < kPerLane; ++i) {
          const float decay = a.a_per_state ? expf(dt * A[i]) : shared_decay;
          h[i] = h[i] * decay + dt * x[c] * B[c][i];
          dot += C[c][i] * h[i];
        }
        dot = SumOverLanes<kLanes>(dot);
        if (active && lane == 0) {
          StoreAs(a.y, (chunk + c) * a.ldy + r, a.y_type, Output(dot, D, x[c], gate[c], a));
        }
      }
    }
  }
  if (active) {
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) state[lane + i * kLanes] = h[i];
  }
}

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

// Which of a one-token step's runs may be loaded 16 bytes at a time.
struct VectorRuns {
  bool state, bc, A;
};

constexpr int kDecodeThreads = 128;

// A step of one token per sequence (decode). Such a step reads and writes each state element
// once and does little else, so its speed is how many bytes are in flight: each thread owns
// kPerLane consecutive state elements of a row (kLanes threads per row) and loads all of its
// inputs before it computes. ScanRows, with one element per thread, keeps too few bytes in flight
// for this (it is built for many tokens per load).
template <int kLanes, int kPerLane>
__global__ void ScanOneToken(StepLayout step, StatePool pool, int64_t layer, int64_t conv_floats,
                             ScanArgs a, VectorRuns vector) {
  constexpr int kRowsPerBlock = kDecodeThreads / kLanes;
  constexpr int kStates = kLanes * kPerLane;
  const int lane = threadIdx.x % kLanes, first = lane * kPerLane;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / kLanes;
  const bool active = row < a.rows;  // as in ScanRows: every lane takes part in the shuffles
  const int64_t r = active ? row : a.rows - 1;
  const int s = blockIdx.y;
  const int64_t t = step.seq_begin[s];
  const int64_t head = r / a.head_dim, group = head / a.heads_per_group;

  float* state = pool.Layer(step.seq_slot[s], layer) + conv_floats + r * kStates + first;
  float h[kPerLane], B[kPerLane], C[kPerLane], A[kPerLane];
  LoadRun(state, vector.state, h);
  LoadRun(a.B + t * a.ldbc + group * kStates + first, vector.bc, B);
  LoadRun(a.C + t * a.ldbc + group * kStates + first, vector.bc, C);
  if (a.a_per_state) {
    LoadRun(a.A + head * kStates + first, vector.A, A);
  } else {
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) A[i] = a.A[head];
  }
  const float x = a.x[t * a.ldx + r];
  const float gate = a.z != nullptr ? a.z[t * a.ldz + r] : 0.0f;
  const float dt_bias = a.dt_bias != nullptr ? a.dt_bias[head] : 0.0f;
  const float dt = StepSize(a.dt[t * a.lddt + head], dt_bias, a);

  float dot = 0.0f;
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) {
    h[i] = h[i] * expf(dt * A[i]) + dt * x * B[i];
    dot += C[i] * h[i];
  }
  dot = SumOverLanes<kLanes>(dot);
  if (!active) return;
  StoreRun(state, vector.state, h);
  if (lane == 0) StoreAs(a.y, t * a.ldy + r, a.y_type, Output(dot, a.D[head], x, gate, a));
}

template <int kLanes, int kPerLane>
void Launch(const StepLayout& step, const StatePool& pool, int64_t layer, int64_t conv_floats,
            const ScanArgs& args, cudaStream_t stream) {
  if (step.num_tokens == step.num_sequences) {  // every sequence has exactly one token
    constexpr int kOneTokenLanes = kLanes * kPerLane <= 16 ? 1 : kLanes * kPerLane / 16;
    constexpr int kOneTokenPerLane = kLanes * kPerLane / kOneTokenLanes;
    constexpr int kRowsPerBlock = kDecodeThreads / kOneTokenLanes;
    const VectorRuns vector{
        .state = Aligned16(pool.base) &&
                 (pool.slot_floats | pool.layer_floats | conv_floats | kOneTokenPerLane) % 4 == 0,
        .bc = Aligned16(args.B) && Aligned16(args.C) && args.ldbc % 4 == 0,
        .A = Aligned16(args.A)};
    const dim3 grid((args.rows + kRowsPerBlock - 1) / kRowsPerBlock, step.num_sequences);
    ScanOneToken<kOneTokenLanes, kOneTokenPerLane>
        <<<grid, kDecodeThreads, 0, stream>>>(step, pool, layer, conv_floats, args, vector);
    return;
  }
  constexpr int kRowsPerBlock = kThreads / kLanes;
  const dim3 grid((args.rows + kRowsPerBlock - 1) / kRowsPerBlock, step.num_sequences);
  ScanRows<kLanes, kPerLane><<<grid, kThreads, 0, stream>>>(step, pool, layer, conv_floats, args);
}

}  // namespace

bool SelectiveScanSupports(int d_state) {
  return d_state == 8 || d_state == 16 || d_state == 32 || d_state == 64 || d_state == 128 ||
         d_state == 256;
}

void SelectiveScan(const StepLayout& step, const StatePool& pool, int64_t layer,
                   int64_t conv_floats, const ScanArgs& args, cudaStream_t stream) {
  switch (args.d_state) {
    case 8:
      return Launch<8, 1>(step, pool, layer, conv_floats, args, stream);
    case 16:
      return Launch<16, 1>(step, pool, layer, conv_floats, args, stream);
    case 32:
      return Launch<32, 1>(step, pool, layer, conv_floats, args, stream);
    case 64:
      return Launch<32, 2>(step, pool, layer, conv_floats, args, stream);
    case 128:
      return Launch<32, 4>(step, pool, layer, conv_floats, args, stream);
    case 256:
      return Launch<32, 8>(step, pool, layer, conv_floats, args, stream);
  }
}

}  // namespace ssm::kernels::cuda
