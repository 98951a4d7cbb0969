#include <cstdint>
#include <type_traits>

#include "kernels/cuda/numeric.cuh"
#include "kernels/cuda/scan_common.cuh"
#include "kernels/cuda/scan_passes.h"
#include "kernels/cuda/selective_scan.h"
#include "kernels/cuda/ssd_chunks.h"

namespace ssm::kernels::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kGroup = 8;  // tokens whose B and C are loaded together

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

template <int kLanes, int kPerLane, typename StateT>
void Launch(const StepLayout& step, const StatePool& pool, int64_t layer, int64_t conv_floats,
            const ScanArgs& args, cudaStream_t stream) {
  // The sequences of one token (all of them in a decode step) take ScanOneToken.
  if (step.num_tokens == step.num_sequences) {
    return ScanSingleTokens(step, pool, layer, conv_floats, args, /*only_single_tokens=*/false,
                            stream);
  }
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
    if (mixed) ScanSingleTokens(step, pool, layer, conv_floats, args, true, stream);
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
  // A chunk pass (kChunkEnds or kChunkOutputs), by whichever kernel suits the rows.
  auto chunk_pass = [&](auto span_tag) {
    constexpr Span kSpan = decltype(span_tag)::value;
    if (ssd) {
      return kSpan == Span::kChunkEnds ? SsdChunkEnds(step, args, chunks, max_chunks, stream)
                                       : SsdChunkOutputs(step, args, chunks, max_chunks, stream);
    }
    if (row_per_lane) {
      return ScanChunksRowPerLane(kSpan, step, args, chunks, max_chunks, vector.state, stream);
    }
    ScanRows<kLanes, kPerLane, kSpan><<<chunk_grid, kThreads, 0, stream>>>(
        step, pool, layer, conv_floats, args, chunks, vector, false);
  };
  chunk_pass(std::integral_constant<Span, Span::kChunkEnds>{});
  constexpr int kCarryThreads = 256;
  const unsigned carry_blocks = (args.rows * args.d_state + kCarryThreads - 1) / kCarryThreads;
  CarryChunkStates<StateT><<<dim3(carry_blocks, step.num_sequences), kCarryThreads, 0, stream>>>(
      step, pool, layer, conv_floats, args, chunks);
  chunk_pass(std::integral_constant<Span, Span::kChunkOutputs>{});
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
