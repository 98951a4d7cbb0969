#include <cstdint>
#include <type_traits>

#include "kernels/cuda/numeric.cuh"
#include "kernels/cuda/overlapped_launch.cuh"
#include "kernels/cuda/packed_dot.cuh"
#include "kernels/cuda/scan_common.cuh"
#include "kernels/cuda/scan_passes.h"

namespace ssm::kernels::cuda {
namespace {

constexpr int kDecodeThreads = 128;

// Four runs per thread keep the most bytes in flight, but a small batch would then leave most of
// the GPU idle (mamba-1.4b at batch 1: 32 blocks), so it takes one run per thread (for d_state
// over 128, the runs that cover a row).
constexpr int64_t kManyBlocks = 512;  // ~4 per SM of an H200

constexpr int RunsPerThread(int d_state) { return d_state > 128 ? d_state / 128 : 1; }

int64_t ElementsPerBlock(int runs_per_thread) {
  return static_cast<int64_t>(kDecodeThreads / 32) * 128 * runs_per_thread;
}

bool TakesFourRuns(int64_t rows, int d_state, int sequences) {
  const int64_t elements = rows * d_state;
  const int64_t big = ElementsPerBlock(4 * RunsPerThread(d_state));
  return (elements + big - 1) / big * sequences >= kManyBlocks;
}

// The raw step size of the row whose kLanesPerRow lanes call this together, from dt's low-rank
// form: each lane takes every kLanesPerRow-th 8 columns of the row's dt_proj (loaded into
// `weights` before the wait) and dt_low, and the lanes sum their parts.
template <int kLanesPerRow, int kPieces>
__device__ __forceinline__ float LowRankStepSize(const ScanArgs& a, const uint4 (&weights)[kPieces],
                                                 const float* dt_low, int lane_in_row) {
  float partial = 0.0f;
#pragma unroll
  for (int i = 0; i < kPieces; ++i) {
    const int piece = lane_in_row + i * kLanesPerRow;
    if (piece >= a.dt_rank / kPackedValues) break;
    const float* x = dt_low + piece * kPackedValues;
    partial += a.dt_proj_type == ElementType::kBF16 ? Dot8<__nv_bfloat16>(weights[i], x)
                                                    : Dot8<__half>(weights[i], x);
  }
  return SumOverLanes<kLanesPerRow>(partial);
}

// A step of one token per sequence (decode) reads and writes each state element once and does
// little else, so its speed is the bytes in flight and how fully each access uses them. A warp
// owns 128 kRuns consecutive elements of a sequence's [rows, d_state] state, and its run j is
// 128 consecutive floats, 4 per lane: every load and store instruction of the warp covers 512
// contiguous bytes. (Giving a thread 16 consecutive elements of a row instead left each
// instruction touching half of every other 32-byte sector: mamba2-1.3b's batch-256 scan moved
// 1.9 TB/s that way, 2.65 TB/s this way.) Lane l's run j starts at element
// warp_first + 128 j + 4 l, in row (that / d_state); a thread issues all its state loads before
// it computes, and the lanes holding parts of a row sum its C . state with shuffles. With
// kLowRank (one run per thread, a row per head: Mamba-1), the lanes of a row also compute its
// step size from dt's low-rank form (ScanArgs::dt_proj), dt_proj's weights loaded before the wait.
template <int kStates, int kRuns, typename StateT, bool kLowRank = false>
__device__ __forceinline__ void ScanOneTokenBody(const StepLayout& step, const StatePool& pool,
                                                 int64_t layer, int64_t conv_floats,
                                                 const ScanArgs& a, const VectorRuns& vector,
                                                 bool only_single_tokens) {
  // Lanes that share a row within a run, and runs of a thread that share a row (d_state 256).
  constexpr int kLanesPerRow = kStates / 4 < 32 ? kStates / 4 : 32;
  constexpr int kRunsPerRow = kStates > 128 ? kStates / 128 : 1;
  static_assert(kRuns % kRunsPerRow == 0);
  static_assert(!kLowRank || kRuns == 1);
  constexpr int kPieces = (kMaxLowRank / kPackedValues + kLanesPerRow - 1) / kLanesPerRow;
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
  // dt_proj is no kernel's output.
  const int lane_in_row = lane % kLanesPerRow;
  uint4 dt_weights[kLowRank ? kPieces : 1];
  if constexpr (kLowRank) {
    const int64_t row = min(warp_first + 4 * lane, elements - 4) / kStates;
    const uint4* weights = static_cast<const uint4*>(a.dt_proj) + row * (a.dt_rank / kPackedValues);
#pragma unroll
    for (int i = 0; i < kPieces; ++i) {
      const int piece = lane_in_row + i * kLanesPerRow;
      dt_weights[i] =
          piece < a.dt_rank / kPackedValues ? __ldg(weights + piece) : make_uint4(0, 0, 0, 0);
    }
  }
  // The state is only this kernel's output (a step ago): its loads went out before the wait;
  // B, C, dt and x are the previous kernels'.
  WaitForPreviousKernel();
  LetNextKernelStart();
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
    float raw_dt;
    if constexpr (kLowRank) {
      raw_dt = LowRankStepSize<kLanesPerRow>(a, dt_weights, a.dt + t * a.lddt, lane_in_row);
    } else {
      raw_dt = a.dt[t * a.lddt + head];
    }
    const float dt = StepSize(raw_dt, dt_bias, a);
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

template <int kStates, int kRuns, typename StateT, bool kLowRank = false>
__global__ void ScanOneToken(StepLayout step, StatePool pool, int64_t layer, int64_t conv_floats,
                             ScanArgs a, VectorRuns vector, bool only_single_tokens) {
  ScanOneTokenBody<kStates, kRuns, StateT, kLowRank>(step, pool, layer, conv_floats, a, vector,
                                                     only_single_tokens);
}

// The four-run kernel for d_state <= 128 when its grid is more than the GPU holds at once (a big
// batch, whose state streams through the whole GPU), bounded to 10 resident blocks per SM: left
// to itself ptxas gives it 64 registers, 8 blocks of 128 threads, and at 48 registers (10 blocks)
// the batch-256 scan ran 3-5% faster on an H100 (docs/benchmarks.md); 12 and 16 blocks spill the
// state runs and move more bytes. Elsewhere the bound costs: its code ran mamba2-1.3b's batch 2
// (512 blocks) 4% slower, and bounding the one-run kernels slowed mamba-1.4b's batch 1 by 6%.
// The other kernels keep ptxas's own choice (any bound changes their code); d_state 256's eight
// runs would spill.
constexpr int64_t kOverfullGrid = 2048;  // blocks; an H100 or H200 holds 132 x 8 = 1,056
template <int kStates, typename StateT>
__global__ void __launch_bounds__(kDecodeThreads, 10)
    ScanOneTokenFourRuns(StepLayout step, StatePool pool, int64_t layer, int64_t conv_floats,
                         ScanArgs a, VectorRuns vector, bool only_single_tokens) {
  ScanOneTokenBody<kStates, 4, StateT>(step, pool, layer, conv_floats, a, vector,
                                       only_single_tokens);
}

template <int kStates, typename StateT>
void Launch(const StepLayout& step, const StatePool& pool, int64_t layer, int64_t conv_floats,
            const ScanArgs& args, bool only_single_tokens, cudaStream_t stream) {
  constexpr int kRuns = RunsPerThread(kStates);
  const VectorRuns vector = VectorRunsFor<4>(pool, conv_floats, args);
  const bool four_runs = TakesFourRuns(args.rows, kStates, step.num_sequences);
  const int64_t per_block = ElementsPerBlock(four_runs ? 4 * kRuns : kRuns);
  const int64_t blocks_per_sequence = (args.rows * kStates + per_block - 1) / per_block;
  const dim3 grid(blocks_per_sequence, step.num_sequences);
  auto launch = [&](auto kernel) {
    LaunchOverlapped(kernel, grid, kDecodeThreads, 0, stream, step, pool, layer, conv_floats, args,
                     vector, only_single_tokens);
  };
  if (four_runs) {
    if constexpr (kRuns == 1) {
      if (blocks_per_sequence * step.num_sequences >= kOverfullGrid) {
        return launch(ScanOneTokenFourRuns<kStates, StateT>);
      }
    }
    return launch(ScanOneToken<kStates, 4 * kRuns, StateT>);
  }
  if constexpr (kRuns == 1) {
    if (args.dt_proj != nullptr) return launch(ScanOneToken<kStates, 1, StateT, true>);
  }
  launch(ScanOneToken<kStates, kRuns, StateT>);
}

}  // namespace

bool ScanTakesLowRankStepSize(const ScanArgs& args, int sequences) {
  return args.head_dim == 1 && args.d_state <= 128 && args.dt_rank > 0 &&
         args.dt_rank % kPackedValues == 0 && args.dt_rank <= kMaxLowRank &&
         args.dt_proj_type != ElementType::kF32 && Aligned16(args.dt_proj) && Aligned16(args.dt) &&
         args.lddt % 4 == 0 && !TakesFourRuns(args.rows, args.d_state, sequences);
}

void ScanSingleTokens(const StepLayout& step, const StatePool& pool, int64_t layer,
                      int64_t conv_floats, const ScanArgs& args, bool only_single_tokens,
                      cudaStream_t stream) {
  auto launch = [&](auto state_type_tag) {
    using StateT = decltype(state_type_tag);
    auto with = [&](auto states) {
      Launch<decltype(states)::value, StateT>(step, pool, layer, conv_floats, args,
                                              only_single_tokens, stream);
    };
    switch (args.d_state) {
      case 8:
        return with(std::integral_constant<int, 8>{});
      case 16:
        return with(std::integral_constant<int, 16>{});
      case 32:
        return with(std::integral_constant<int, 32>{});
      case 64:
        return with(std::integral_constant<int, 64>{});
      case 128:
        return with(std::integral_constant<int, 128>{});
      case 256:
        return with(std::integral_constant<int, 256>{});
    }
  };
  if (args.state_type == ElementType::kBF16) {
    launch(__nv_bfloat16{});
  } else {
    launch(float{});
  }
}

}  // namespace ssm::kernels::cuda
