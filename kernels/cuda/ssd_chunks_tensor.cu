// The SSD chunk passes (ssd_chunks.h) with their products on the tensor cores: the same three
// kernels as the fp32 form in ssd_chunks.cu, but each factor is rounded to bf16 as it is staged
// in shared memory, and the warps multiply the staged tiles with mma.sync (fp32 accumulators).
// What a model of 16-bit matrices can take; reference Mamba-2 kernels round these factors to the
// model's type too.
#include <cuda_bf16.h>

#include "kernels/cuda/mma.cuh"
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
using bf16 = __nv_bfloat16;

// A product's inner dimension goes through shared memory kDepth values at a time. A staged
// factor holds, per row of the product's left side or column of its right side, its kDepth
// inner values side by side, rows kStride apart: with 8 values of padding, the 8 lane groups'
// fragment loads of one MMA step fall in 32 different banks.
constexpr int kDepth = 64;
constexpr int kStride = kDepth + 8;

__device__ __forceinline__ uint32_t Pair(const bf16* p) {
  return *reinterpret_cast<const uint32_t*>(p);
}

// acc[i][j] += left[m0 + 16 i, +16) . right[n0 + 8 j, +8)^T over the staged kDepth: a warp's
// kM x kN tiles of the product's outputs.
template <int kM, int kN, int kLeftRows, int kRightRows>
__device__ __forceinline__ void WarpProduct(float (&acc)[kM][kN][4],
                                            const bf16 (&left)[kLeftRows][kStride],
                                            const bf16 (&right)[kRightRows][kStride], int m0,
                                            int n0) {
  const int lane = threadIdx.x % 32, g = lane / 4, q = lane % 4;
#pragma unroll
  for (int k = 0; k < kDepth; k += 16) {
    const int column = k + 2 * q;
    uint32_t a[kM][4], b[kN][2];
#pragma unroll
    for (int i = 0; i < kM; ++i) {
      const int row = m0 + 16 * i + g;
      a[i][0] = Pair(&left[row][column]);
      a[i][1] = Pair(&left[row + 8][column]);
      a[i][2] = Pair(&left[row][column + 8]);
      a[i][3] = Pair(&left[row + 8][column + 8]);
    }
#pragma unroll
    for (int j = 0; j < kN; ++j) {
      b[j][0] = Pair(&right[n0 + 8 * j + g][column]);
      b[j][1] = Pair(&right[n0 + 8 * j + g][column + 8]);
    }
#pragma unroll
    for (int i = 0; i < kM; ++i) {
#pragma unroll
      for (int j = 0; j < kN; ++j) {
        MmaTile<bf16>(acc[i][j], a[i][0], a[i][1], a[i][2], a[i][3], b[j][0], b[j][1]);
      }
    }
  }
}

// Calls f(row, column, accumulator) for each of a warp's outputs (mma.cuh's layout of d).
template <int kM, int kN, typename F>
__device__ __forceinline__ void ForEachOutput(float (&acc)[kM][kN][4], int m0, int n0, F f) {
  const int lane = threadIdx.x % 32, g = lane / 4, q = lane % 4;
#pragma unroll
  for (int i = 0; i < kM; ++i) {
#pragma unroll
    for (int j = 0; j < kN; ++j) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        f(m0 + 16 * i + g + 8 * (e / 2), n0 + 8 * j + 2 * q + e % 2, acc[i][j][e]);
      }
    }
  }
}

// scores[t][u] = C_t . B_u, per group. Warps as 4 x 2 over the 128 x 128 scores.
// grid: (groups, sequences, chunks).
__global__ void __launch_bounds__(kThreads)
    TensorScores(StepLayout step, ScanArgs a, ChunkWorkspace chunks) {
  Chunk c;
  if (!FindChunk(step, &c)) return;
  const int64_t group = blockIdx.x;
  const int warp = threadIdx.x / 32, m0 = 32 * (warp / 2), n0 = 64 * (warp % 2);
  __shared__ __align__(16) bf16 Cs[kL][kStride], Bs[kL][kStride];  // [token][state]
  float acc[2][8][4] = {};
  for (int n_begin = 0; n_begin < kN; n_begin += kDepth) {
    for (int e = threadIdx.x; e < kL * kDepth; e += kThreads) {
      const int u = e / kDepth, n = e % kDepth;
      const int64_t at = (c.first + u) * a.ldbc + group * kN + n_begin + n;
      Cs[u][n] = __float2bfloat16(u < c.length ? a.C[at] : 0.0f);
      Bs[u][n] = __float2bfloat16(u < c.length ? a.B[at] : 0.0f);
    }
    __syncthreads();
    WarpProduct(acc, Cs, Bs, m0, n0);
    __syncthreads();
  }
  float* scores = chunks.scores + (c.entry * Groups(a) + group) * kL * kL;
  ForEachOutput(acc, m0, n0, [&](int t, int u, float v) { scores[t * kL + u] = v; });
}

// Each row's zero-start final state, state[p][n] = the sum over u of
// exp(A * (total - cumulative[u])) * delta[u] * x_u[p] * B_u[n], and the head's summed step
// size. Warps as 2 x 4 over the 64 x 128 state. grid: (heads, sequences, chunks).
__global__ void __launch_bounds__(kThreads)
    TensorEnds(StepLayout step, ScanArgs a, ChunkWorkspace chunks) {
  Chunk c;
  if (!FindChunk(step, &c)) return;
  const int64_t head = blockIdx.x, group = head / a.heads_per_group;
  const int warp = threadIdx.x / 32, m0 = 32 * (warp / 4), n0 = 32 * (warp % 4);
  __shared__ float delta[kL], cumulative[kL];
  __shared__ __align__(16) bf16 Xs[kP][kStride], Bs[kN][kStride];  // [row][token], [state][token]
  ChunkStepSizes(a, c, head, delta, cumulative);
  const float A = kLog2e * a.A[head], total = cumulative[kL - 1];
  float acc[2][4][4] = {};
  for (int u_begin = 0; u_begin < c.length; u_begin += kDepth) {
    for (int e = threadIdx.x; e < kDepth * kP; e += kThreads) {
      const int u = u_begin + e / kP, p = e % kP;
      Xs[p][e / kP] = __float2bfloat16(u < c.length ? Decay(total - cumulative[u], A) * delta[u] *
                                                          a.x[(c.first + u) * a.ldx + head * kP + p]
                                                    : 0.0f);
    }
    for (int e = threadIdx.x; e < kDepth * kN; e += kThreads) {
      const int u = u_begin + e / kN, n = e % kN;
      Bs[n][e / kN] =
          __float2bfloat16(u < c.length ? a.B[(c.first + u) * a.ldbc + group * kN + n] : 0.0f);
    }
    __syncthreads();
    WarpProduct(acc, Xs, Bs, m0, n0);
    __syncthreads();
  }
  float* states = chunks.states + (c.entry * a.rows + head * kP) * kN;  // [p][n]
  ForEachOutput(acc, m0, n0, [&](int p, int n, float v) { states[p * kN + n] = v; });
  if (threadIdx.x == 0) chunks.dt_sums[c.entry * Heads(a) + head] = total;
}

// y_t[p] = C_t . state_t[p] + D * x_t[p]: the product with the chunk's true start state, decayed
// to each token, plus the product of the masked, decayed scores with x (as ChunkOutputs in
// ssd_chunks.cu). Warps as 4 x 2 over the 128 x 64 outputs. grid: (heads, sequences, chunks).
__global__ void __launch_bounds__(kThreads)
    TensorOutputs(StepLayout step, ScanArgs a, ChunkWorkspace chunks) {
  Chunk c;
  if (!FindChunk(step, &c)) return;
  const int64_t head = blockIdx.x, group = head / a.heads_per_group;
  const int warp = threadIdx.x / 32, m0 = 32 * (warp / 2), n0 = 32 * (warp % 2);
  __shared__ float delta[kL], cumulative[kL];
  __shared__ __align__(16) bf16 Ls[kL][kStride];  // [token][inner]: C, then the masked scores
  __shared__ __align__(16) bf16 Rs[kP][kStride];  // [row][inner]: the start state, then x
  ChunkStepSizes(a, c, head, delta, cumulative);
  const float A = kLog2e * a.A[head];
  float acc[2][4][4] = {};  // [t][p]

  const float* start = chunks.states + (c.entry * a.rows + head * kP) * kN;  // [p][n]
  for (int n_begin = 0; n_begin < kN; n_begin += kDepth) {
    for (int e = threadIdx.x; e < kL * kDepth; e += kThreads) {
      const int t = e / kDepth, n = e % kDepth;
      Ls[t][n] = __float2bfloat16(
          t < c.length ? a.C[(c.first + t) * a.ldbc + group * kN + n_begin + n] : 0.0f);
    }
    for (int e = threadIdx.x; e < kP * kDepth; e += kThreads) {
      const int p = e / kDepth, n = e % kDepth;
      Rs[p][n] = __float2bfloat16(start[p * kN + n_begin + n]);
    }
    __syncthreads();
    WarpProduct(acc, Ls, Rs, m0, n0);
    __syncthreads();
  }
  ForEachOutput(acc, m0, n0, [&](int t, int, float& v) { v *= Decay(cumulative[t], A); });

  const float* scores = chunks.scores + (c.entry * Groups(a) + group) * kL * kL;
  for (int u_begin = 0; u_begin < c.length; u_begin += kDepth) {
    for (int e = threadIdx.x; e < kL * kDepth; e += kThreads) {
      const int t = e / kDepth, u = u_begin + e % kDepth;
      Ls[t][e % kDepth] = __float2bfloat16(
          u <= t && t < c.length
              ? scores[t * kL + u] * Decay(cumulative[t] - cumulative[u], A) * delta[u]
              : 0.0f);
    }
    for (int e = threadIdx.x; e < kDepth * kP; e += kThreads) {
      const int u = u_begin + e / kP, p = e % kP;
      Rs[p][e / kP] =
          __float2bfloat16(u < c.length ? a.x[(c.first + u) * a.ldx + head * kP + p] : 0.0f);
    }
    __syncthreads();
    WarpProduct(acc, Ls, Rs, m0, n0);
    __syncthreads();
  }

  const float D = a.D[head];
  ForEachOutput(acc, m0, n0, [&](int t, int p, float v) {
    if (t >= c.length) return;
    const int64_t r = head * kP + p;
    const float x = a.x[(c.first + t) * a.ldx + r];
    const float gate = a.z != nullptr ? a.z[(c.first + t) * a.ldz + r] : 0.0f;
    StoreAs(a.y, (c.first + t) * a.ldy + r, a.y_type, Output(v, D, x, gate, a));
  });
}

}  // namespace

namespace ssd {

void TensorChunkEnds(const StepLayout& step, const ScanArgs& args, const ChunkWorkspace& chunks,
                     int max_chunks, cudaStream_t stream) {
  TensorScores<<<dim3(Groups(args), step.num_sequences, max_chunks), kThreads, 0, stream>>>(
      step, args, chunks);
  TensorEnds<<<dim3(Heads(args), step.num_sequences, max_chunks), kThreads, 0, stream>>>(step, args,
                                                                                         chunks);
}

void TensorChunkOutputs(const StepLayout& step, const ScanArgs& args, const ChunkWorkspace& chunks,
                        int max_chunks, cudaStream_t stream) {
  TensorOutputs<<<dim3(Heads(args), step.num_sequences, max_chunks), kThreads, 0, stream>>>(
      step, args, chunks);
}

}  // namespace ssd
}  // namespace ssm::kernels::cuda
