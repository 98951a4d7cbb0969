#include "kernels/cuda/ssd_chunks.h"
#include "kernels/cuda/ssd_common.cuh"

namespace ssm::kernels::cuda {
namespace {

using ssd::Chunk;
using ssd::ChunkStepSizes;
using ssd::FindChunk;
using ssd::kL;
using ssd::kN;
using ssd::kP;
using ssd::kThreads;

constexpr int kSide = 16;  // a block's threads as a 16 x 16 grid over each product's outputs
constexpr int kTile = 32;  // products go through their inner dimension a tile at a time

// acc[i][j] += the sum over k < kTile of a(i, k) * b(j, k): this thread's outputs (rows
// threadIdx.x / kSide + kSide * i, columns threadIdx.x % kSide + kSide * j) of a product whose
// inner dimension is in shared memory one tile at a time.
template <int kI, int kJ, typename Left, typename Right>
__device__ __forceinline__ void MultiplyTile(float (&acc)[kI][kJ], Left a, Right b) {
#pragma unroll 4
  for (int k = 0; k < kTile; ++k) {
    float left[kI], right[kJ];
#pragma unroll
    for (int i = 0; i < kI; ++i) left[i] = a(i, k);
#pragma unroll
    for (int j = 0; j < kJ; ++j) right[j] = b(j, k);
#pragma unroll
    for (int i = 0; i < kI; ++i) {
#pragma unroll
      for (int j = 0; j < kJ; ++j) acc[i][j] += left[i] * right[j];
    }
  }
}

// scores[t][u] = C_t . B_u for the chunk's tokens, per group (its heads share them).
// grid: (groups, sequences, chunks).
__global__ void __launch_bounds__(kThreads)
    ChunkScores(StepLayout step, ScanArgs a, ChunkWorkspace chunks) {
  Chunk c;
  if (!FindChunk(step, &c)) return;
  const int64_t group = blockIdx.x;
  const int row = threadIdx.x / kSide, column = threadIdx.x % kSide;
  __shared__ float Cs[kL][kTile + 1], Bs[kL][kTile + 1];  // +1: no bank conflicts down a column
  float acc[kL / kSide][kL / kSide] = {};
  for (int n0 = 0; n0 < kN; n0 += kTile) {
    for (int e = threadIdx.x; e < kL * kTile; e += blockDim.x) {
      const int u = e / kTile, n = e % kTile;
      const int64_t at = (c.first + u) * a.ldbc + group * kN + n0 + n;
      Cs[u][n] = u < c.length ? a.C[at] : 0.0f;
      Bs[u][n] = u < c.length ? a.B[at] : 0.0f;
    }
    __syncthreads();
    MultiplyTile(
        acc, [&](int i, int k) { return Cs[row + kSide * i][k]; },
        [&](int j, int k) { return Bs[column + kSide * j][k]; });
    __syncthreads();
  }
  float* scores = chunks.scores + (c.entry * Groups(a) + group) * kL * kL;
#pragma unroll
  for (int i = 0; i < kL / kSide; ++i) {
#pragma unroll
    for (int j = 0; j < kL / kSide; ++j) {
      scores[(row + kSide * i) * kL + column + kSide * j] = acc[i][j];
    }
  }
}

// Each row's final state from a zero start, state[p][n] = the sum over the chunk's tokens u of
// exp(A * (total - cumulative[u])) * delta[u] * x_u[p] * B_u[n], and the head's summed step size
// (total). grid: (heads, sequences, chunks).
__global__ void __launch_bounds__(kThreads)
    ChunkEnds(StepLayout step, ScanArgs a, ChunkWorkspace chunks) {
  Chunk c;
  if (!FindChunk(step, &c)) return;
  const int64_t head = blockIdx.x, group = head / a.heads_per_group;
  const int row = threadIdx.x / kSide, column = threadIdx.x % kSide;
  __shared__ float delta[kL], cumulative[kL];
  __shared__ float Xs[kTile][kP + 1], Bs[kTile][kN + 1];
  ChunkStepSizes(a, c, head, delta, cumulative);
  const float A = kLog2e * a.A[head], total = cumulative[kL - 1];
  float acc[kP / kSide][kN / kSide] = {};
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
    MultiplyTile(
        acc, [&](int i, int k) { return Xs[k][row + kSide * i]; },
        [&](int j, int k) { return Bs[k][column + kSide * j]; });
    __syncthreads();
  }
  float* states = chunks.states + (c.entry * a.rows + head * kP) * kN;  // [p][n]
#pragma unroll
  for (int i = 0; i < kP / kSide; ++i) {
#pragma unroll
    for (int j = 0; j < kN / kSide; ++j) {
      states[(row + kSide * i) * kN + column + kSide * j] = acc[i][j];
    }
  }
  if (threadIdx.x == 0) chunks.dt_sums[c.entry * Heads(a) + head] = total;
}

// y_t[p] = C_t . state_t[p] + D * x_t[p], where the state after token t is
// exp(A * cumulative[t]) * start + the sum over u <= t of
// exp(A * (cumulative[t] - cumulative[u])) * delta[u] * x_u * B_u: one product with the start
// state, one with the masked, decayed scores. grid: (heads, sequences, chunks).
__global__ void __launch_bounds__(kThreads)
    ChunkOutputs(StepLayout step, ScanArgs a, ChunkWorkspace chunks) {
  Chunk c;
  if (!FindChunk(step, &c)) return;
  const int64_t head = blockIdx.x, group = head / a.heads_per_group;
  const int row = threadIdx.x / kSide, column = threadIdx.x % kSide;
  __shared__ float delta[kL], cumulative[kL];
  __shared__ float Ls[kL][kTile + 1];  // the left factor's tile: C, then the masked scores
  __shared__ float Rs[kTile][kP + 1];  // the right factor's: the start state, then x
  ChunkStepSizes(a, c, head, delta, cumulative);
  const float A = kLog2e * a.A[head];
  float acc[kL / kSide][kP / kSide] = {};  // [t][p]

  // From the start state: C_t . start[p], then decayed to token t.
  const float* start = chunks.states + (c.entry * a.rows + head * kP) * kN;  // [p][n]
  for (int n0 = 0; n0 < kN; n0 += kTile) {
    for (int e = threadIdx.x; e < kL * kTile; e += blockDim.x) {
      const int t = e / kTile, n = e % kTile;
      Ls[t][n] = t < c.length ? a.C[(c.first + t) * a.ldbc + group * kN + n0 + n] : 0.0f;
    }
    for (int e = threadIdx.x; e < kTile * kP; e += blockDim.x) {
      const int p = e / kTile, n = e % kTile;
      Rs[n][p] = start[p * kN + n0 + n];
    }
    __syncthreads();
    MultiplyTile(
        acc, [&](int i, int k) { return Ls[row + kSide * i][k]; },
        [&](int j, int k) { return Rs[k][column + kSide * j]; });
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < kL / kSide; ++i) {
    const float decay = Decay(cumulative[row + kSide * i], A);
#pragma unroll
    for (int j = 0; j < kP / kSide; ++j) acc[i][j] *= decay;
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
    MultiplyTile(
        acc, [&](int i, int k) { return Ls[row + kSide * i][k]; },
        [&](int j, int k) { return Rs[k][column + kSide * j]; });
    __syncthreads();
  }

  const float D = a.D[head];
#pragma unroll
  for (int i = 0; i < kL / kSide; ++i) {
    const int t = row + kSide * i;
    if (t >= c.length) continue;
#pragma unroll
    for (int j = 0; j < kP / kSide; ++j) {
      const int64_t r = head * kP + column + kSide * j;
      const float x = a.x[(c.first + t) * a.ldx + r];
      const float gate = a.z != nullptr ? a.z[(c.first + t) * a.ldz + r] : 0.0f;
      StoreAs(a.y, (c.first + t) * a.ldy + r, a.y_type, Output(acc[i][j], D, x, gate, a));
    }
  }
}

}  // namespace

bool SsdChunksSupport(const ScanArgs& args) {
  return !args.a_per_state && args.head_dim == kP && args.d_state == kN;
}

void SsdChunkEnds(const StepLayout& step, const ScanArgs& args, const ChunkWorkspace& chunks,
                  int max_chunks, cudaStream_t stream) {
  if (args.bf16_chunk_products) return ssd::TensorChunkEnds(step, args, chunks, max_chunks, stream);
  ChunkScores<<<dim3(Groups(args), step.num_sequences, max_chunks), kThreads, 0, stream>>>(
      step, args, chunks);
  ChunkEnds<<<dim3(Heads(args), step.num_sequences, max_chunks), kThreads, 0, stream>>>(step, args,
                                                                                        chunks);
}

void SsdChunkOutputs(const StepLayout& step, const ScanArgs& args, const ChunkWorkspace& chunks,
                     int max_chunks, cudaStream_t stream) {
  if (args.bf16_chunk_products) {
    return ssd::TensorChunkOutputs(step, args, chunks, max_chunks, stream);
  }
  ChunkOutputs<<<dim3(Heads(args), step.num_sequences, max_chunks), kThreads, 0, stream>>>(
      step, args, chunks);
}

}  // namespace ssm::kernels::cuda
