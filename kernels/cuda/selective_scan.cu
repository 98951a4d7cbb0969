#include <cstdint>
#include <type_traits>

#include "kernels/cuda/numeric.cuh"
#include "kernels/cuda/scan_common.cuh"
#include "kernels/cuda/selective_scan.h"
#include "kernels/cuda/ssd_chunks.h"

namespace ssm::kernels::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kGroup = 8;  // tokens whose B and C are loaded together

// A row's dot product C . state, summed over the kLanes lanes that hold parts of it.
template <int kLanes>
__device__ __forceinline__ float SumOverLanes(float partial) {
#pragma unroll
  for (int offset = kLanes / 2; offset > 0; offset /= 2) {
    partial += __shfl_xor_sync(0xffffffffu, partial, offset, kLanes);
  }
  return partial;
}

// kLanes dot products at once: lane l holds its parts v[0..kLanes) of kLanes dot products, and
// gets back the whole of product l. Each round, a lane keeps half of its values, sends the other
// half to its partner and adds what it receives: kLanes - 1 shuffles for kLanes sums, where
// SumOverLanes would take log2(kLanes) shuffles for each.
template <int kLanes, int kWidth = kLanes / 2>
__device__ __forceinline__ float TransposedLaneSums(float (&v)[kLanes]) {
  const bool upper = (threadIdx.x & kWidth) != 0;
#pragma unroll
  for (int i = 0; i < kWidth; ++i) {
    const float give = upper ? v[i] : v[i + kWidth];
    const float keep = upper ? v[i + kWidth] : v[i];
    v[i] = keep + __shfl_xor_sync(0xffffffffu, give, kWidth, kLanes);
  }
  if constexpr (kWidth > 1) {
    return TransposedLaneSums<kLanes, kWidth / 2>(v);
  } else {
    return v[0];
  }
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
VectorRuns VectorRunsFor(const StatePool& pool, int64_t conv_floats, const ScanArgs& args) {
  return {.state = Aligned16(pool.base) &&
                   (pool.slot_floats | pool.layer_floats | conv_floats | kPerLane) % 4 == 0,
          .bc = Aligned16(args.B) && Aligned16(args.C) && args.ldbc % 4 == 0,
          .A = Aligned16(args.A)};
}

// kLanes lanes share a row; lane l holds the kPerLane consecutive state elements from
// l * kPerLane, and loads them (and B, C) 16 bytes at a time where it can. Tokens go in groups of
// kLanes, and
// the work done once per token and row (its step size, x, gate and output) is spread over the
// lanes: lane j does it for token j of the group and broadcasts what the others need. Each lane
// keeps its part of every token's dot product C . state, and one transposed reduction at the
// end of the group gives lane j the whole of token j's.
// StateT is how slots store the state (float or __nv_bfloat16); the chunk passes keep theirs in
// the fp32 workspace.
template <int kLanes, int kPerLane, Span kSpan, typename StateT = float>
__global__ void ScanRows(StepLayout step, StatePool pool, int64_t layer, int64_t conv_floats,
                         ScanArgs a, ChunkWorkspace chunks, VectorRuns vector,
                         bool skip_single_tokens) {
  constexpr int kRowsPerBlock = kThreads / kLanes;
  constexpr int kStates = kLanes * kPerLane;
  constexpr bool kOutputs = kSpan != Span::kChunkEnds;
  const int lane = threadIdx.x % kLanes, first_state = lane * kPerLane;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / kLanes;
  // Rows past the end still run (on the last row, without writing), so that every lane of a
  // warp takes part in the shuffles.
  const bool active = row < a.rows;
  const int64_t r = active ? row : a.rows - 1;
  const int s = blockIdx.y;
  if (skip_single_tokens && step.seq_length[s] == 1) return;  // ScanOneToken's
  const int64_t head = r / a.head_dim, group = head / a.heads_per_group;

  int64_t begin = step.seq_begin[s], end = begin + step.seq_length[s];
  // Where the scan starts from (but for kChunkEnds) and what it writes back.
  std::conditional_t<kSpan == Span::kWhole, StateT, float>* state;
  int64_t entry = 0;
  if constexpr (kSpan == Span::kWhole) {
    state =
        SlotState<StateT>(pool, step.seq_slot[s], layer, conv_floats) + r * kStates + first_state;
  } else {
    begin += static_cast<int64_t>(blockIdx.z) * kScanChunkTokens;
    if (begin >= end) return;  // the sequence has fewer chunks than the longest
    end = min(end, begin + kScanChunkTokens);
    entry = ChunkWorkspace::Entry(step, s, blockIdx.z);
    state = chunks.states + (entry * a.rows + r) * kStates + first_state;
  }
  float h[kPerLane], A[kPerLane];
  if (kSpan == Span::kChunkEnds) {
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) h[i] = 0.0f;
  } else {
    LoadRun(state, vector.state, h);
  }
  LoadDecayRates(a, head, kStates, first_state, vector.A, A);
  const float dt_bias = a.dt_bias != nullptr ? a.dt_bias[head] : 0.0f;
  const float D = a.D[head];
  float dt_sum = 0.0f;  // of this lane's tokens

  for (int64_t first = begin; first < end; first += kLanes) {
    const int count = static_cast<int>(
        min(static_cast<int64_t>(kLanes), end - first));  // the same for the whole block
    // This lane's token: its step size, x, gate and (with one A per head) its decay.
    const bool mine_exists = lane < count;
    const int64_t mine = first + (mine_exists ? lane : 0);
    const float my_x = a.x[mine * a.ldx + r];
    const float my_dt = mine_exists ? StepSize(a.dt[mine * a.lddt + head], dt_bias, a) : 0.0f;
    const float my_gate = kOutputs && a.z != nullptr ? a.z[mine * a.ldz + r] : 0.0f;
    const float my_dt_x = my_dt * my_x;
    const float my_decay = a.a_per_state ? my_dt : Decay(my_dt, A[0]);
    dt_sum += my_dt;

    float dot[kLanes];  // this lane's part of each token's C . state
    // B and C are loaded kGroup tokens at a time (independent loads, so their latencies
    // overlap), then the recurrence runs through those tokens.
#pragma unroll
    for (int g = 0; g < kLanes; g += kGroup) {
      float B[kGroup][kPerLane], C[kGroup][kPerLane] = {};  // C unused without outputs
#pragma unroll
      for (int c = 0; c < kGroup; ++c) {
        const int64_t t = first + min(g + c, count - 1);  // past the end: reloads, unused
        const int64_t at = t * a.ldbc + group * kStates + first_state;
        LoadRun(a.B + at, vector.bc, B[c]);
        if constexpr (kOutputs) LoadRun(a.C + at, vector.bc, C[c]);
      }
#pragma unroll
      for (int c = 0; c < kGroup; ++c) {
        const int j = g + c;
        dot[j] = 0.0f;
        if (j < count) {
          // dt (A per state) or the decay (one A per head), and dt * x, from token j's lane.
          const float dt_or_decay = __shfl_sync(0xffffffffu, my_decay, j, kLanes);
          const float dt_x = __shfl_sync(0xffffffffu, my_dt_x, j, kLanes);
#pragma unroll
          for (int i = 0; i < kPerLane; ++i) {
            const float decay = a.a_per_state ? Decay(dt_or_decay, A[i]) : dt_or_decay;
            h[i] = h[i] * decay + dt_x * B[c][i];
            dot[j] += C[c][i] * h[i];
          }
        }
      }
    }
    if constexpr (kOutputs) {
      const float my_dot = TransposedLaneSums<kLanes>(dot);
      if (active && mine_exists) {
        StoreAs(a.y, (first + lane) * a.ldy + r, a.y_type, Output(my_dot, D, my_x, my_gate, a));
      }
    }
  }
  if constexpr (kSpan == Span::kChunkEnds) dt_sum = SumOverLanes<kLanes>(dt_sum);
  if (!active || kSpan == Span::kChunkOutputs) return;
  StoreRun(state, vector.state, h);
  if (kSpan == Span::kChunkEnds && lane == 0 && r % a.head_dim == 0) {
    chunks.dt_sums[entry * (a.rows / a.head_dim) + head] = dt_sum;
  }
}

// Between the two chunk passes: walks each sequence's chunks in order, one thread per state
// element, turning each chunk's zero-start final state into the true state at the chunk's start
// (the state at the end of the previous chunk), and writes the sequence's final state to its
// slot. The true state after chunk k is decay_k * (state before it) + (its zero-start final
// state), where decay_k = exp(A * the chunk's summed step sizes).
template <typename StateT>
__global__ void CarryChunkStates(StepLayout step, StatePool pool, int64_t layer,
                                 int64_t conv_floats, ScanArgs a, ChunkWorkspace chunks) {
  const int64_t element = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t elements = a.rows * a.d_state;
  if (element >= elements) return;
  const int s = blockIdx.y;
  const int64_t head = element / a.d_state / a.head_dim, heads = a.rows / a.head_dim;
  const float A =
      kLog2e * (a.a_per_state ? a.A[head * a.d_state + element % a.d_state] : a.A[head]);
  StateT* slot_state = SlotState<StateT>(pool, step.seq_slot[s], layer, conv_floats) + element;
  float h = ToFloat(*slot_state);
  const int count = (step.seq_length[s] + kScanChunkTokens - 1) / kScanChunkTokens;
  // Chunks go kBatch at a time, their values loaded before any is used: one memory round trip
  // per batch rather than per chunk.
  constexpr int kBatch = 8;
  for (int first = 0; first < count; first += kBatch) {
    float zero_start_end[kBatch], dt_sum[kBatch];
    int64_t at[kBatch];
#pragma unroll
    for (int j = 0; j < kBatch; ++j) {
      if (first + j < count) {
        const int64_t entry = ChunkWorkspace::Entry(step, s, first + j);
        at[j] = entry * elements + element;
        zero_start_end[j] = chunks.states[at[j]];
        dt_sum[j] = chunks.dt_sums[entry * heads + head];
      }
    }
#pragma unroll
    for (int j = 0; j < kBatch; ++j) {
      if (first + j < count) {
        chunks.states[at[j]] = h;  // the true state at the chunk's start
        h = h * Decay(dt_sum[j], A) + zero_start_end[j];
      }
    }
  }
  *slot_state = FromFloat<StateT>(h);
}

// The chunk passes for Mamba-1's rows (one head per row, all rows reading the same B and C): one
// lane per row, holding all kStates state elements of it. ScanRows spreads a row over kStates
// lanes, which must then pass each token's step size around and sum each token's C . state
// across lanes, several instructions per state element besides the update; here a lane computes
// its own row's step size and output, and the update (an exp2 and two multiply-adds per state
// element) is nearly all it does. One row per lane leaves too few threads for a single sequence
// scanned token by token, but the chunk passes have rows x chunks of them. A block is
// kChunkThreads rows of one chunk; the chunk's B and C go to shared memory once for them all.
constexpr int kChunkThreads = 128;
constexpr int kTokenBatch = 8;  // tokens whose dt, x and z a lane loads before using any

template <int kStates, Span kSpan>
__global__ void __launch_bounds__(kChunkThreads)
    ScanChunkRowPerLane(StepLayout step, ScanArgs a, ChunkWorkspace chunks, bool vector_state) {
  static_assert(kSpan != Span::kWhole);
  constexpr bool kOutputs = kSpan == Span::kChunkOutputs;
  __shared__ float4 bc[kScanChunkTokens][2 * kStates / 4];  // per token: B, then C
  const int s = blockIdx.y;
  const int64_t begin = step.seq_begin[s] + static_cast<int64_t>(blockIdx.z) * kScanChunkTokens;
  const int64_t end =
      min(static_cast<int64_t>(step.seq_begin[s] + step.seq_length[s]), begin + kScanChunkTokens);
  if (begin >= end) return;  // the sequence has fewer chunks than the longest
  const int count = static_cast<int>(end - begin);
  for (int i = threadIdx.x; i < count * kStates; i += kChunkThreads) {
    const int t = i / kStates, n = i % kStates;
    float* token_bc = reinterpret_cast<float*>(bc[t]);
    token_bc[n] = a.B[(begin + t) * a.ldbc + n];
    if constexpr (kOutputs) token_bc[kStates + n] = a.C[(begin + t) * a.ldbc + n];
  }
  __syncthreads();

  const int64_t r = static_cast<int64_t>(blockIdx.x) * kChunkThreads + threadIdx.x;
  if (r >= a.rows) return;
  const int64_t entry = ChunkWorkspace::Entry(step, s, blockIdx.z);
  float* state = chunks.states + (entry * a.rows + r) * kStates;
  float h[kStates], A[kStates];
  if constexpr (kOutputs) {
    LoadRun(state, vector_state, h);
  } else {
#pragma unroll
    for (int n = 0; n < kStates; ++n) h[n] = 0.0f;
  }
  LoadDecayRates(a, r, kStates, 0, /*vector=*/false, A);
  const float dt_bias = a.dt_bias != nullptr ? a.dt_bias[r] : 0.0f;
  const float D = a.D[r];
  float dt_sum = 0.0f;
  for (int first = 0; first < count; first += kTokenBatch) {
    float dt[kTokenBatch], x[kTokenBatch], gate[kTokenBatch];
#pragma unroll
    for (int j = 0; j < kTokenBatch; ++j) {
      const int64_t t = begin + min(first + j, count - 1);  // past the end: reloads, unused
      dt[j] = a.dt[t * a.lddt + r];
      x[j] = a.x[t * a.ldx + r];
      if constexpr (kOutputs) gate[j] = a.z != nullptr ? a.z[t * a.ldz + r] : 0.0f;
    }
#pragma unroll
    for (int j = 0; j < kTokenBatch; ++j) {
      if (first + j >= count) break;
      const float delta = StepSize(dt[j], dt_bias, a), delta_x = delta * x[j];
      dt_sum += delta;
      float dot = 0.0f;
#pragma unroll
      for (int q = 0; q < kStates / 4; ++q) {
        const float4 B = bc[first + j][q];
        const float Bq[4] = {B.x, B.y, B.z, B.w};
        float Cq[4] = {};
        if constexpr (kOutputs) {
          const float4 C = bc[first + j][kStates / 4 + q];
          Cq[0] = C.x, Cq[1] = C.y, Cq[2] = C.z, Cq[3] = C.w;
        }
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          const int n = 4 * q + i;
          h[n] = h[n] * Decay(delta, A[n]) + delta_x * Bq[i];
          if constexpr (kOutputs) dot += Cq[i] * h[n];
        }
      }
      if constexpr (kOutputs) {
        StoreAs(a.y, (begin + first + j) * a.ldy + r, a.y_type, Output(dot, D, x[j], gate[j], a));
      }
    }
  }
  if constexpr (!kOutputs) {
    StoreRun(state, vector_state, h);
    chunks.dt_sums[entry * a.rows + r] = dt_sum;
  }
}

// Whether ScanChunkRowPerLane runs the chunk passes of these arguments: Mamba-1's rows.
bool RowPerLaneSupports(const ScanArgs& a) {
  return a.head_dim == 1 && a.heads_per_group == a.rows && a.a_per_state &&
         (a.d_state == 8 || a.d_state == 16);
}

template <Span kSpan>
void LaunchRowPerLane(const StepLayout& step, const ScanArgs& a, const ChunkWorkspace& chunks,
                      int max_chunks, bool vector_state, cudaStream_t stream) {
  const dim3 grid((a.rows + kChunkThreads - 1) / kChunkThreads, step.num_sequences, max_chunks);
  if (a.d_state == 8) {
    ScanChunkRowPerLane<8, kSpan>
        <<<grid, kChunkThreads, 0, stream>>>(step, a, chunks, vector_state);
  } else {
    ScanChunkRowPerLane<16, kSpan>
        <<<grid, kChunkThreads, 0, stream>>>(step, a, chunks, vector_state);
  }
}

constexpr int kDecodeThreads = 128;

// A step of one token per sequence (decode) reads and writes each state element once and does
// little else, so its speed is the bytes in flight and how fully each access uses them. A warp
// owns 128 kRuns consecutive elements of a sequence's [rows, d_state] state, and its run j is
// 128 consecutive floats, 4 per lane: every load and store instruction of the warp covers 512
// contiguous bytes. (Giving a thread 16 consecutive elements of a row instead left each
// instruction touching half of every other 32-byte sector: mamba2-1.3b's batch-256 scan moved
// 1.9 TB/s that way, 2.65 TB/s this way.) Lane l's run j
// starts at element warp_first + 128 j + 4 l, in row (that / d_state); a thread issues all its
// state loads before it computes, and the lanes holding parts of a row sum its C . state with
// shuffles.
template <int kStates, int kRuns, typename StateT>
__global__ void ScanOneToken(StepLayout step, StatePool pool, int64_t layer, int64_t conv_floats,
                             ScanArgs a, VectorRuns vector, bool only_single_tokens) {
  // Lanes that share a row within a run, and runs of a thread that share a row (d_state 256).
  constexpr int kLanesPerRow = kStates / 4 < 32 ? kStates / 4 : 32;
  constexpr int kRunsPerRow = kStates > 128 ? kStates / 128 : 1;
  static_assert(kRuns % kRunsPerRow == 0);
  const int s = blockIdx.y;
  if (only_single_tokens && step.seq_length[s] != 1) return;  // ScanRows'
  const int lane = threadIdx.x % 32;
  const int64_t warp_first =
      (static_cast<int64_t>(blockIdx.x) * (kDecodeThreads / 32) + threadIdx.x / 32) * 128 * kRuns;
  const int64_t elements = a.rows * kStates;
  if (warp_first >= elements) return;  // a whole warp leaves together
  const int64_t t = step.seq_begin[s];
  StateT* state = SlotState<StateT>(pool, step.seq_slot[s], layer, conv_floats);

  float h[kRuns][4];
#pragma unroll
  for (int j = 0; j < kRuns; ++j) {
    const int64_t e = warp_first + 128 * j + 4 * lane;
    if (e < elements) {
      LoadRun(state + e, vector.state, h[j]);
    } else {
#pragma unroll
      for (int i = 0; i < 4; ++i) h[j][i] = 0.0f;
    }
  }
  float dot[kRuns];
#pragma unroll
  for (int j = 0; j < kRuns; ++j) {
    const int64_t e = min(warp_first + 128 * j + 4 * lane, elements - 4);  // past the end: unused
    const int64_t row = e / kStates, head = row / a.head_dim, group = head / a.heads_per_group;
    const int first = static_cast<int>(e % kStates);
    float B[4], C[4], A[4];
    LoadRun(a.B + t * a.ldbc + group * kStates + first, vector.bc, B);
    LoadRun(a.C + t * a.ldbc + group * kStates + first, vector.bc, C);
    LoadDecayRates(a, head, kStates, first, vector.A, A);
    const float dt_bias = a.dt_bias != nullptr ? a.dt_bias[head] : 0.0f;
    const float dt = StepSize(a.dt[t * a.lddt + head], dt_bias, a);
    const float dt_x = dt * a.x[t * a.ldx + row];
    dot[j] = 0.0f;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      h[j][i] = h[j][i] * Decay(dt, A[i]) + dt_x * B[i];
      dot[j] += C[i] * h[j][i];
    }
  }
#pragma unroll
  for (int j = 0; j < kRuns; ++j) {
    const int64_t e = warp_first + 128 * j + 4 * lane;
    if (e < elements) StoreRun(state + e, vector.state, h[j]);
  }
  // Each row's sum: first over a thread's runs of it, then over its lanes.
#pragma unroll
  for (int j = 0; j < kRuns; j += kRunsPerRow) {
#pragma unroll
    for (int k = 1; k < kRunsPerRow; ++k) dot[j] += dot[j + k];
    dot[j] = SumOverLanes<kLanesPerRow>(dot[j]);
    const int64_t e = warp_first + 128 * j + 4 * lane;
    if (e < elements && e % kStates == 0) {  // the row's first lane
      const int64_t row = e / kStates, head = row / a.head_dim;
      const float x = a.x[t * a.ldx + row];
      const float gate = a.z != nullptr ? a.z[t * a.ldz + row] : 0.0f;
      StoreAs(a.y, t * a.ldy + row, a.y_type, Output(dot[j], a.D[head], x, gate, a));
    }
  }
}

template <int kLanes, int kPerLane, typename StateT>
void Launch(const StepLayout& step, const StatePool& pool, int64_t layer, int64_t conv_floats,
            const ScanArgs& args, cudaStream_t stream) {
  // The sequences of one token (all of them in a decode step) take ScanOneToken.
  auto scan_single_tokens = [&](bool only_single_tokens) {
    // Four runs per thread keep the most bytes in flight, but a small batch would then leave
    // most of the GPU idle (mamba-1.4b at batch 1: 32 blocks), so it takes one run per thread.
    constexpr int kStates = kLanes * kPerLane;
    constexpr int kRuns = kStates > 128 ? kStates / 128 : 1;  // a thread's runs cover whole rows
    constexpr int64_t kSmallElements = kDecodeThreads / 32 * 128 * kRuns;
    constexpr int64_t kManyBlocks = 512;  // ~4 per SM of an H200
    const VectorRuns vector = VectorRunsFor<4>(pool, conv_floats, args);
    const int64_t elements = args.rows * kStates;
    const int64_t big_blocks = (elements + 4 * kSmallElements - 1) / (4 * kSmallElements);
    if (big_blocks * step.num_sequences >= kManyBlocks) {
      ScanOneToken<kStates, 4 * kRuns, StateT>
          <<<dim3(big_blocks, step.num_sequences), kDecodeThreads, 0, stream>>>(
              step, pool, layer, conv_floats, args, vector, only_single_tokens);
    } else {
      const int64_t blocks = (elements + kSmallElements - 1) / kSmallElements;
      ScanOneToken<kStates, kRuns, StateT>
          <<<dim3(blocks, step.num_sequences), kDecodeThreads, 0, stream>>>(
              step, pool, layer, conv_floats, args, vector, only_single_tokens);
    }
  };
  if (step.num_tokens == step.num_sequences) return scan_single_tokens(false);
  constexpr int kRowsPerBlock = kThreads / kLanes;
  const unsigned row_blocks = (args.rows + kRowsPerBlock - 1) / kRowsPerBlock;
  const int max_chunks = (step.max_seq_length + kScanChunkTokens - 1) / kScanChunkTokens;
  const bool chunked =
      step.num_tokens >= 2 * kScanChunkTokens * step.num_sequences && max_chunks <= 65535 &&
      args.workspace_floats >=
          ScanWorkspaceFloats(step.num_tokens, args.rows, args.d_state, Heads(args), Groups(args));
  VectorRuns vector = VectorRunsFor<kPerLane>(pool, conv_floats, args);
  if (!chunked) {
    // A mixed step (decodes beside a prompt): the decodes' rows each hold one token, which
    // ScanOneToken does at a fraction of ScanRows' cost per state element.
    const bool mixed = step.single_token_sequences > 0;
    if (mixed) scan_single_tokens(true);
    ScanRows<kLanes, kPerLane, Span::kWhole, StateT>
        <<<dim3(row_blocks, step.num_sequences), kThreads, 0, stream>>>(
            step, pool, layer, conv_floats, args, ChunkWorkspace{}, vector, mixed);
    return;
  }
  const ChunkWorkspace chunks = SplitWorkspace(args, step.num_tokens, step.num_sequences);
  vector.state = Aligned16(chunks.states);  // the passes' states are the workspace's
  const dim3 chunk_grid(row_blocks, step.num_sequences, max_chunks);
  const bool ssd = SsdChunksSupport(args);  // Mamba-2's heads: the chunk passes as products
  const bool row_per_lane = RowPerLaneSupports(args);
  if (ssd) {
    SsdChunkEnds(step, args, chunks, max_chunks, stream);
  } else if (row_per_lane) {
    LaunchRowPerLane<Span::kChunkEnds>(step, args, chunks, max_chunks, vector.state, stream);
  } else {
    ScanRows<kLanes, kPerLane, Span::kChunkEnds><<<chunk_grid, kThreads, 0, stream>>>(
        step, pool, layer, conv_floats, args, chunks, vector, false);
  }
  constexpr int kCarryThreads = 256;
  const unsigned carry_blocks = (args.rows * args.d_state + kCarryThreads - 1) / kCarryThreads;
  CarryChunkStates<StateT><<<dim3(carry_blocks, step.num_sequences), kCarryThreads, 0, stream>>>(
      step, pool, layer, conv_floats, args, chunks);
  if (ssd) {
    SsdChunkOutputs(step, args, chunks, max_chunks, stream);
  } else if (row_per_lane) {
    LaunchRowPerLane<Span::kChunkOutputs>(step, args, chunks, max_chunks, vector.state, stream);
  } else {
    ScanRows<kLanes, kPerLane, Span::kChunkOutputs><<<chunk_grid, kThreads, 0, stream>>>(
        step, pool, layer, conv_floats, args, chunks, vector, false);
  }
}

}  // namespace

int64_t ScanWorkspaceFloats(int64_t tokens, int64_t rows, int d_state, int64_t heads,
                            int64_t groups) {
  // A step is chunked only when its sequences average two chunks or more.
  const int64_t entries = ChunkEntries(tokens, tokens / (2 * kScanChunkTokens));
  return entries * (rows * d_state + heads + groups * kScanChunkTokens * kScanChunkTokens);
}

bool SelectiveScanSupports(int d_state) {
  return d_state == 8 || d_state == 16 || d_state == 32 || d_state == 64 || d_state == 128 ||
         d_state == 256;
}

void SelectiveScan(const StepLayout& step, const StatePool& pool, int64_t layer,
                   int64_t conv_floats, const ScanArgs& args, cudaStream_t stream) {
  auto launch = [&](auto state_type_tag) {
    using StateT = decltype(state_type_tag);
    switch (args.d_state) {
      case 8:
        return Launch<8, 1, StateT>(step, pool, layer, conv_floats, args, stream);
      case 16:
        return Launch<16, 1, StateT>(step, pool, layer, conv_floats, args, stream);
      case 32:
        return Launch<32, 1, StateT>(step, pool, layer, conv_floats, args, stream);
      case 64:
        return Launch<32, 2, StateT>(step, pool, layer, conv_floats, args, stream);
      case 128:
        return Launch<32, 4, StateT>(step, pool, layer, conv_floats, args, stream);
      case 256:
        return Launch<32, 8, StateT>(step, pool, layer, conv_floats, args, stream);
    }
  };
  if (args.state_type == ElementType::kBF16) {
    launch(__nv_bfloat16{});
  } else {
    launch(float{});
  }
}

}  // namespace ssm::kernels::cuda
