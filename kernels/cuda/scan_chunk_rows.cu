#include <cstdint>

#include "kernels/cuda/numeric.cuh"
#include "kernels/cuda/scan_common.cuh"
#include "kernels/cuda/scan_passes.h"

namespace ssm::kernels::cuda {
namespace {

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

}  // namespace

bool RowPerLaneSupports(const ScanArgs& a) {
  return a.head_dim == 1 && a.heads_per_group == a.rows && a.a_per_state &&
         (a.d_state == 8 || a.d_state == 16);
}

void ScanChunksRowPerLane(Span span, const StepLayout& step, const ScanArgs& a,
                          const ChunkWorkspace& chunks, int max_chunks, bool vector_state,
                          cudaStream_t stream) {
  const dim3 grid((a.rows + kChunkThreads - 1) / kChunkThreads, step.num_sequences, max_chunks);
  auto launch = [&](auto kernel) {
    kernel<<<grid, kChunkThreads, 0, stream>>>(step, a, chunks, vector_state);
  };
  const bool ends = span == Span::kChunkEnds;
  if (a.d_state == 8) {
    launch(ends ? ScanChunkRowPerLane<8, Span::kChunkEnds>
                : ScanChunkRowPerLane<8, Span::kChunkOutputs>);
  } else {
    launch(ends ? ScanChunkRowPerLane<16, Span::kChunkEnds>
                : ScanChunkRowPerLane<16, Span::kChunkOutputs>);
  }
}

}  // namespace ssm::kernels::cuda
