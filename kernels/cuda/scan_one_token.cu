#include <cstdint>
#include <type_traits>

#include "kernels/cuda/numeric.cuh"
#include "kernels/cuda/overlapped_launch.cuh"
#include "kernels/cuda/scan_common.cuh"
#include "kernels/cuda/scan_passes.h"

namespace ssm::kernels::cuda {
namespace {

constexpr int kDecodeThreads = 128;

// A step of one token per sequence (decode) reads and writes each state element once and does
// little else, so its speed is the bytes in flight and how fully each access uses them. A warp
// owns 128 kRuns consecutive elements of a sequence's [rows, d_state] state, and its run j is
// 128 consecutive floats, 4 per lane: every load and store instruction of the warp covers 512
// contiguous bytes. (Giving a thread 16 consecutive elements of a row instead left each
// instruction touching half of every other 32-byte sector: mamba2-1.3b's batch-256 scan moved
// 1.9 TB/s that way, 2.65 TB/s this way.) Lane l's run j starts at element
// warp_first + 128 j + 4 l, in row (that / d_state); a thread issues all its state loads before
// it computes, and the lanes holding parts of a row sum its C . state with shuffles.
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

template <int kStates, typename StateT>
void Launch(const StepLayout& step, const StatePool& pool, int64_t layer, int64_t conv_floats,
            const ScanArgs& args, bool only_single_tokens, cudaStream_t stream) {
  // Four runs per thread keep the most bytes in flight, but a small batch would then leave
  // most of the GPU idle (mamba-1.4b at batch 1: 32 blocks), so it takes one run per thread.
  constexpr int kRuns = kStates > 128 ? kStates / 128 : 1;  // a thread's runs cover whole rows
  constexpr int64_t kSmallElements = kDecodeThreads / 32 * 128 * kRuns;
  constexpr int64_t kManyBlocks = 512;  // ~4 per SM of an H200
  const VectorRuns vector = VectorRunsFor<4>(pool, conv_floats, args);
  const int64_t elements = args.rows * kStates;
  const int64_t big_blocks = (elements + 4 * kSmallElements - 1) / (4 * kSmallElements);
  if (big_blocks * step.num_sequences >= kManyBlocks) {
    LaunchOverlapped(ScanOneToken<kStates, 4 * kRuns, StateT>, dim3(big_blocks, step.num_sequences),
                     kDecodeThreads, 0, stream, step, pool, layer, conv_floats, args, vector,
                     only_single_tokens);
  } else {
    const int64_t blocks = (elements + kSmallElements - 1) / kSmallElements;
    LaunchOverlapped(ScanOneToken<kStates, kRuns, StateT>, dim3(blocks, step.num_sequences),
                     kDecodeThreads, 0, stream, step, pool, layer, conv_floats, args, vector,
                     only_single_tokens);
  }
}

}  // namespace

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
