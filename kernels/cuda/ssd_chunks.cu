#include <mma.h>

#include "kernels/cuda/ssd_chunks.h"

namespace ssm::kernels::cuda {
namespace {

constexpr int kL = kScanChunkTokens;  // tokens per chunk
constexpr int kP = 64;                // rows per head
constexpr int kN = 128;               // state values per row
constexpr int kThreads = 256;
constexpr int kTile = 32;  // products go through their inner dimension a tile at a time

// The chunk a block works on: chunk blockIdx.z of sequence blockIdx.y.
struct Chunk {
  int64_t first;  // its first token row
  int length;     // its tokens (a sequence's last chunk may be short)
  int64_t entry;  // its entry in the workspace
};

__device__ bool FindChunk(const StepLayout& step, Chunk* chunk) {
  const int s = blockIdx.y, k = blockIdx.z;
  const int64_t first = step.seq_begin[s] + static_cast<int64_t>(k) * kL;
  const int64_t end = step.seq_begin[s] + step.seq_length[s];
  if (first >= end) return false;  // the sequence has fewer chunks than the longest
  *chunk = {first, static_cast<int>(min(static_cast<int64_t>(kL), end - first)),
            ChunkWorkspace::Entry(step, s, k)};
  return true;
}

// delta[u]: the step size of the chunk's token u (0 past its end); cumulative[u]: delta[0] +
// ... + delta[u], so that the decay from after token u to after token t is
// exp(A * (cumulative[t] - cumulative[u])).
__device__ void ChunkStepSizes(const ScanArgs& a, const Chunk& c, int64_t head, float* delta,
                               float* cumulative) {
  const float bias = a.dt_bias != nullptr ? a.dt_bias[head] : 0.0f;
  for (int u = threadIdx.x; u < kL; u += blockDim.x) {
    delta[u] = u < c.length ? StepSize(a.dt[(c.first + u) * a.lddt + head], bias, a) : 0.0f;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    float sum = 0.0f;
    for (int u = 0; u < kL; ++u) cumulative[u] = sum += delta[u];
  }
  __syncthreads();
}

// The products run on the tensor cores in tf32 (16 x 16 x 8 tiles through WMMA), each factor
// split into a tf32 part and the tf32 rounding of what is left, and multiplied as big.big +
// big.small + small.big: about fp32's precision (the small.small term is below it) at three
// tensor-core products per tile, against one SIMT multiply-add per element and step before
// (docs/benchmarks.md). Each of a block's 8 warps owns a few 16 x 16 tiles of the output.
namespace wmma = nvcuda::wmma;
constexpr int kWarps = kThreads / 32;
constexpr int kFragment = 16;  // a tile's rows and columns
constexpr int kStep = 8;       // a tile product's inner dimension
constexpr int kPad = 4;        // shared rows padded (a multiple of 4 floats, as WMMA needs)

template <typename Layout>
using LeftFragment =
    wmma::fragment<wmma::matrix_a, kFragment, kFragment, kStep, wmma::precision::tf32, Layout>;
template <typename Layout>
using RightFragment =
    wmma::fragment<wmma::matrix_b, kFragment, kFragment, kStep, wmma::precision::tf32, Layout>;
using Accumulator = wmma::fragment<wmma::accumulator, kFragment, kFragment, kStep, float>;

// Splits a fragment loaded from fp32 into its tf32 part (in place) and the rest's (`small`).
template <typename Fragment>
__device__ __forceinline__ void SplitTf32(Fragment& big, Fragment& small) {
#pragma unroll
  for (int i = 0; i < big.num_elements; ++i) {
    const float whole = big.x[i];
    big.x[i] = wmma::__float_to_tf32(whole);
    small.x[i] = wmma::__float_to_tf32(whole - big.x[i]);
  }
}

// acc += left . right, both split, in about fp32's precision: the small terms first.
template <typename LeftLayout, typename RightLayout>
__device__ __forceinline__ void MultiplySplit(Accumulator& acc,
                                              const LeftFragment<LeftLayout>& left_big,
                                              const LeftFragment<LeftLayout>& left_small,
                                              const RightFragment<RightLayout>& right_big,
                                              const RightFragment<RightLayout>& right_small) {
  wmma::mma_sync(acc, left_small, right_big, acc);
  wmma::mma_sync(acc, left_big, right_small, acc);
  wmma::mma_sync(acc, left_big, right_big, acc);
}

// acc[j] += the product over kTile inner steps of the warp's left tile and its kJ right tiles, in
// shared memory: left_at(k) is where the left tile's inner step k starts, right_at(j, k) the
// same of right tile j, each laid out as its fragment's layout says, left_ld and right_ld apart.
template <int kJ, typename LeftLayout, typename RightLayout, typename LeftAt, typename RightAt>
__device__ __forceinline__ void MultiplyTiles(Accumulator (&acc)[kJ], LeftAt left_at, int left_ld,
                                              RightAt right_at, int right_ld) {
#pragma unroll
  for (int k = 0; k < kTile; k += kStep) {
    LeftFragment<LeftLayout> left_big, left_small;
    wmma::load_matrix_sync(left_big, left_at(k), left_ld);
    SplitTf32(left_big, left_small);
#pragma unroll
    for (int j = 0; j < kJ; ++j) {
      RightFragment<RightLayout> right_big, right_small;
      wmma::load_matrix_sync(right_big, right_at(j, k), right_ld);
      SplitTf32(right_big, right_small);
      MultiplySplit(acc[j], left_big, left_small, right_big, right_small);
    }
  }
}

template <int kJ>
__device__ __forceinline__ void Zero(Accumulator (&acc)[kJ]) {
#pragma unroll
  for (int j = 0; j < kJ; ++j) wmma::fill_fragment(acc[j], 0.0f);
}

// scores[t][u] = C_t . B_u for the chunk's tokens, per group (its heads share them). Warp w owns
// rows [16 w, 16 w + 16) of the 128 x 128 scores. grid: (groups, sequences, chunks).
__global__ void __launch_bounds__(kThreads)
    ChunkScores(StepLayout step, ScanArgs a, ChunkWorkspace chunks) {
  Chunk c;
  if (!FindChunk(step, &c)) return;
  const int64_t group = blockIdx.x;
  const int warp = threadIdx.x / 32;
  constexpr int kLd = kTile + kPad;
  __shared__ __align__(32) float Cs[kL][kLd];  // [token][state], kTile states
  __shared__ __align__(32) float Bs[kL][kLd];
  constexpr int kJ = kL / kFragment;
  Accumulator acc[kJ];
  Zero(acc);
  for (int n0 = 0; n0 < kN; n0 += kTile) {
    for (int e = threadIdx.x; e < kL * kTile; e += blockDim.x) {
      const int u = e / kTile, n = e % kTile;
      const int64_t at = (c.first + u) * a.ldbc + group * kN + n0 + n;
      Cs[u][n] = u < c.length ? a.C[at] : 0.0f;
      Bs[u][n] = u < c.length ? a.B[at] : 0.0f;
    }
    __syncthreads();
    // Left: C (t x n) row-major; right: B^T (n x u), B stored [u][n], so column-major.
    MultiplyTiles<kJ, wmma::row_major, wmma::col_major>(
        acc, [&](int k) { return &Cs[kFragment * warp][k]; }, kLd,
        [&](int j, int k) { return &Bs[kFragment * j][k]; }, kLd);
    __syncthreads();
  }
  float* scores = chunks.scores + (c.entry * Groups(a) + group) * kL * kL;
#pragma unroll
  for (int j = 0; j < kJ; ++j) {
    wmma::store_matrix_sync(scores + kFragment * warp * kL + kFragment * j, acc[j], kL,
                            wmma::mem_row_major);
  }
}

// Each row's final state from a zero start, state[p][n] = the sum over the chunk's tokens u of
// exp(A * (total - cumulative[u])) * delta[u] * x_u[p] * B_u[n], and the head's summed step size
// (total). Warp w owns rows [16 (w / 2), +16) and columns [64 (w % 2), +64) of the 64 x 128
// state. grid: (heads, sequences, chunks).
__global__ void __launch_bounds__(kThreads)
    ChunkEnds(StepLayout step, ScanArgs a, ChunkWorkspace chunks) {
  Chunk c;
  if (!FindChunk(step, &c)) return;
  const int64_t head = blockIdx.x, group = head / a.heads_per_group;
  const int warp = threadIdx.x / 32;
  constexpr int kXLd = kP + kPad, kBLd = kN + kPad;
  __shared__ float delta[kL], cumulative[kL];
  __shared__ __align__(32) float Xs[kTile][kXLd];  // [token][row]
  __shared__ __align__(32) float Bs[kTile][kBLd];  // [token][state]
  ChunkStepSizes(a, c, head, delta, cumulative);
  const float A = kLog2e * a.A[head], total = cumulative[kL - 1];
  constexpr int kJ = kN / kFragment / 2;
  const int row_tile = warp / 2, first_column_tile = (warp % 2) * kJ;
  Accumulator acc[kJ];
  Zero(acc);
  for (int u0 = 0; u0 < c.length; u0 += kTile) {
    for (int e = threadIdx.x; e < kTile * kP; e += blockDim.x) {
      const int u = u0 + e / kP, p = e % kP;
      Xs[e / kP][p] = u < c.length ? Decay(total - cumulative[u], A) * delta[u] *
                                         a.x[(c.first + u) * a.ldx + head * kP + p]
                                   : 0.0f;
    }
    for (int e = threadIdx.x; e < kTile * kN; e += blockDim.x) {
      const int u = u0 + e / kN, n = e % kN;
      Bs[e / kN][n] = u < c.length ? a.B[(c.first + u) * a.ldbc + group * kN + n] : 0.0f;
    }
    __syncthreads();
    // Left: the weighted X^T (p x u), X stored [u][p], so column-major; right: B (u x n).
    MultiplyTiles<kJ, wmma::col_major, wmma::row_major>(
        acc, [&](int k) { return &Xs[k][kFragment * row_tile]; }, kXLd,
        [&](int j, int k) { return &Bs[k][kFragment * (first_column_tile + j)]; }, kBLd);
    __syncthreads();
  }
  float* states = chunks.states + (c.entry * a.rows + head * kP) * kN;  // [p][n]
#pragma unroll
  for (int j = 0; j < kJ; ++j) {
    wmma::store_matrix_sync(
        states + kFragment * row_tile * kN + kFragment * (first_column_tile + j), acc[j], kN,
        wmma::mem_row_major);
  }
  if (threadIdx.x == 0) chunks.dt_sums[c.entry * Heads(a) + head] = total;
}

// y_t[p] = C_t . state_t[p] + D * x_t[p], where the state after token t is
// exp(A * cumulative[t]) * start + the sum over u <= t of
// exp(A * (cumulative[t] - cumulative[u])) * delta[u] * x_u * B_u: one product of the decayed C
// with the start state, one of the masked, decayed scores with x. Warp w owns tokens
// [16 w, 16 w + 16) of the 128 x 64 outputs. grid: (heads, sequences, chunks).
__global__ void __launch_bounds__(kThreads)
    ChunkOutputs(StepLayout step, ScanArgs a, ChunkWorkspace chunks) {
  Chunk c;
  if (!FindChunk(step, &c)) return;
  const int64_t head = blockIdx.x, group = head / a.heads_per_group;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  constexpr int kLLd = kTile + kPad, kRLd = kP + kPad, kStageLd = kFragment + kPad;
  __shared__ float delta[kL], cumulative[kL];
  // The left factor's tile: C decayed to each token, then the masked scores; the right
  // factor's: the start state, then x; and each warp's output tile on its way out.
  __shared__ __align__(32) float Ls[kL][kLLd];
  __shared__ __align__(32) float Rs[kTile][kRLd];
  __shared__ __align__(32) float stage[kWarps][kFragment][kStageLd];
  ChunkStepSizes(a, c, head, delta, cumulative);
  const float A = kLog2e * a.A[head];
  constexpr int kJ = kP / kFragment;
  Accumulator acc[kJ];  // [t][p]
  Zero(acc);
  auto left = [&](int k) { return &Ls[kFragment * warp][k]; };
  auto right = [&](int j, int k) { return &Rs[k][kFragment * j]; };

  // From the start state: exp(A cumulative[t]) C_t . start[p].
  const float* start = chunks.states + (c.entry * a.rows + head * kP) * kN;  // [p][n]
  for (int n0 = 0; n0 < kN; n0 += kTile) {
    for (int e = threadIdx.x; e < kL * kTile; e += blockDim.x) {
      const int t = e / kTile, n = e % kTile;
      Ls[t][n] = t < c.length
                     ? Decay(cumulative[t], A) * a.C[(c.first + t) * a.ldbc + group * kN + n0 + n]
                     : 0.0f;
    }
    for (int e = threadIdx.x; e < kTile * kP; e += blockDim.x) {
      const int p = e / kTile, n = e % kTile;
      Rs[n][p] = start[p * kN + n0 + n];
    }
    __syncthreads();
    MultiplyTiles<kJ, wmma::row_major, wmma::row_major>(acc, left, kLLd, right, kRLd);
    __syncthreads();
  }

  // Within the chunk: the scores of tokens u <= t, decayed from u to t and weighted by delta[u].
  const float* scores = chunks.scores + (c.entry * Groups(a) + group) * kL * kL;
  for (int u0 = 0; u0 < c.length; u0 += kTile) {
    for (int e = threadIdx.x; e < kL * kTile; e += blockDim.x) {
      const int t = e / kTile, u = u0 + e % kTile;
      Ls[t][e % kTile] =
          u <= t && t < c.length
              ? scores[t * kL + u] * Decay(cumulative[t] - cumulative[u], A) * delta[u]
              : 0.0f;
    }
    for (int e = threadIdx.x; e < kTile * kP; e += blockDim.x) {
      const int u = u0 + e / kP, p = e % kP;
      Rs[e / kP][p] = u < c.length ? a.x[(c.first + u) * a.ldx + head * kP + p] : 0.0f;
    }
    __syncthreads();
    MultiplyTiles<kJ, wmma::row_major, wmma::row_major>(acc, left, kLLd, right, kRLd);
    __syncthreads();
  }

  // Where a fragment's elements sit is the hardware's business: each tile goes through shared
  // memory, and the warp's lanes finish its 256 outputs.
  const float D = a.D[head];
#pragma unroll
  for (int j = 0; j < kJ; ++j) {
    wmma::store_matrix_sync(&stage[warp][0][0], acc[j], kStageLd, wmma::mem_row_major);
    __syncwarp();
    for (int e = lane; e < kFragment * kFragment; e += 32) {
      const int t = kFragment * warp + e / kFragment;
      if (t >= c.length) continue;
      const int64_t r = head * kP + kFragment * j + e % kFragment;
      const float x = a.x[(c.first + t) * a.ldx + r];
      const float gate = a.z != nullptr ? a.z[(c.first + t) * a.ldz + r] : 0.0f;
      StoreAs(a.y, (c.first + t) * a.ldy + r, a.y_type,
              Output(stage[warp][e / kFragment][e % kFragment], D, x, gate, a));
    }
    __syncwarp();
  }
}

}  // namespace

bool SsdChunksSupport(const ScanArgs& args) {
  return !args.a_per_state && args.head_dim == kP && args.d_state == kN;
}

void SsdChunkEnds(const StepLayout& step, const ScanArgs& args, const ChunkWorkspace& chunks,
                  int max_chunks, cudaStream_t stream) {
  ChunkScores<<<dim3(Groups(args), step.num_sequences, max_chunks), kThreads, 0, stream>>>(
      step, args, chunks);
  ChunkEnds<<<dim3(Heads(args), step.num_sequences, max_chunks), kThreads, 0, stream>>>(step, args,
                                                                                        chunks);
}

void SsdChunkOutputs(const StepLayout& step, const ScanArgs& args, const ChunkWorkspace& chunks,
                     int max_chunks, cudaStream_t stream) {
  ChunkOutputs<<<dim3(Heads(args), step.num_sequences, max_chunks), kThreads, 0, stream>>>(
      step, args, chunks);
}

}  // namespace ssm::kernels::cuda
