#include <cstdint>

#include "kernels/cuda/numeric.cuh"
#include "kernels/cuda/overlapped_launch.cuh"
#include "kernels/cuda/skinny_gemm.h"

namespace ssm::kernels::cuda {
namespace {

constexpr int kWarps = 8;
constexpr int kThreads = kWarps * 32;
constexpr int kTileRows = 16;   // an mma's M
constexpr int kTileTokens = 8;  // an mma's N
constexpr int kChunk = 32;      // columns per lane round: two mma steps of K = 16
constexpr int kPerLoad = 8;     // 16-bit elements per 16-byte load
constexpr int kUnroll = 8;      // chunks whose weights a lane loads before its first mma
constexpr int kMaxTiles = kSkinnyGemmMaxTokens / kTileTokens;

// D += A . B for one m16n8k16 tile, fp32 accumulators; A is 16 x 16 (row-major fragments), B is
// 16 x 8 (column-major fragments), both in the 16-bit type of the tag.
__device__ __forceinline__ void Mma(float (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2,
                                    uint32_t a3, uint32_t b0, uint32_t b1, const __nv_bfloat16*) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}
__device__ __forceinline__ void Mma(float (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2,
                                    uint32_t a3, uint32_t b0, uint32_t b1, const __half*) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

template <typename T>
__device__ __forceinline__ uint4 Load16(const T* p) {
  return __ldg(reinterpret_cast<const uint4*>(p));
}

// How a lane's 16-byte loads become mma fragments. In an m16n8k16 product, lane (g, q) =
// (lane / 4, lane % 4) holds A's rows g and g + 8 at k = 2q, 2q + 1 (registers 0 and 1) and
// 2q + 8, 2q + 9 (registers 2 and 3), and B's column g at the same k (registers 0 and 1). A dot
// product does not care in which order its k come, as long as A and B agree: so lane (g, q)
// loads 8 consecutive columns c + 8q ... c + 8q + 7 of rows g and g + 8 and of token g, and
// gives the first four to the chunk's first mma (as its k = 2q, 2q + 1, 2q + 8, 2q + 9) and the
// last four to its second. Each warp load instruction then reads 64 contiguous bytes of each of
// 16 rows: whole 32-byte sectors, nothing loaded twice, no shuffles.
template <typename T>
__device__ __forceinline__ void MultiplyChunk(float (&d)[4], uint4 row_g, uint4 row_g8,
                                              uint4 token_g) {
  Mma(d, row_g.x, row_g8.x, row_g.y, row_g8.y, token_g.x, token_g.y,
      static_cast<const T*>(nullptr));
  Mma(d, row_g.z, row_g8.z, row_g.w, row_g8.w, token_g.z, token_g.w,
      static_cast<const T*>(nullptr));
}

// A block's warps take tiles of 16 rows, kWarpsPerTile warps to a tile, each warp every
// kWarpsPerTile-th chunk of 32 columns; a warp multiplies its weights with all kTiles tiles of 8
// tokens, so the matrix is read once whatever the token count.
template <typename T, int kTiles, int kWarpsPerTile>
__global__ void __launch_bounds__(kThreads)
    SkinnyGemmTiles(const T* w, int64_t rows, int64_t cols, const T* x, int64_t ldx, int tokens,
                    const float* bias, float* out, int64_t ldo, bool accumulate) {
  constexpr int kTilesPerBlock = kWarps / kWarpsPerTile;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int part = warp % kWarpsPerTile;
  const int g = lane / 4, q = lane % 4;
  const int64_t first_row =
      (static_cast<int64_t>(blockIdx.x) * kTilesPerBlock + warp / kWarpsPerTile) * kTileRows;
  // Rows past the end read the last row instead, so no load depends on the row; their sums are
  // not stored. (Whole tiles past the end still meet their partners at the barrier below.)
  const T* row_g = w + min(first_row + g, rows - 1) * cols;
  const T* row_g8 = w + min(first_row + g + 8, rows - 1) * cols;
  const int64_t chunks = (cols + kChunk - 1) / kChunk;

  // The columns a lane loads from chunk c are c * 32 + 8 q onwards: past the end (a last chunk
  // of fewer than 32 columns, or a chunk past the last) they are taken as zeros.
  auto column = [&](int64_t c) { return c * kChunk + kPerLoad * q; };
  uint4 weights_g[kUnroll], weights_g8[kUnroll];
  auto load_weights = [&](int64_t first_chunk) {
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t k = column(first_chunk + u * kWarpsPerTile);
      const bool inside = k < cols;
      weights_g[u] = inside ? Load16(row_g + k) : make_uint4(0, 0, 0, 0);
      weights_g8[u] = inside ? Load16(row_g8 + k) : make_uint4(0, 0, 0, 0);
    }
  };
  // The matrix is no kernel's output: its first round of loads goes out before the wait.
  load_weights(part);
  WaitForPreviousKernel();
  LetNextKernelStart();

  float acc[kTiles][4] = {};
  for (int64_t first_chunk = part; first_chunk < chunks; first_chunk += kWarpsPerTile * kUnroll) {
    if (first_chunk != part) load_weights(first_chunk);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t c = first_chunk + u * kWarpsPerTile;
      if (c >= chunks) break;  // the same for the whole warp, as mma.sync needs
      const int64_t k = column(c);
#pragma unroll
      for (int n = 0; n < kTiles; ++n) {
        const int token = n * kTileTokens + g;
        const uint4 activations =
            k < cols && token < tokens ? Load16(x + token * ldx + k) : make_uint4(0, 0, 0, 0);
        MultiplyChunk<T>(acc[n], weights_g[u], weights_g8[u], activations);
      }
    }
  }

  if constexpr (kWarpsPerTile > 1) {  // the tile's warps meet in shared memory
    __shared__ float partials[kWarps][kTiles * 4][32];
    if (part != 0) {
#pragma unroll
      for (int n = 0; n < kTiles; ++n) {
#pragma unroll
        for (int i = 0; i < 4; ++i) partials[warp][4 * n + i][lane] = acc[n][i];
      }
    }
    __syncthreads();
    if (part != 0) return;
#pragma unroll
    for (int p = 1; p < kWarpsPerTile; ++p) {
#pragma unroll
      for (int n = 0; n < kTiles; ++n) {
#pragma unroll
        for (int i = 0; i < 4; ++i) acc[n][i] += partials[warp + p][4 * n + i][lane];
      }
    }
  }
  // Accumulator i of tile n is row g (i < 2) or g + 8, token 8 n + 2 q + i % 2.
#pragma unroll
  for (int n = 0; n < kTiles; ++n) {
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int64_t row = first_row + g + (i < 2 ? 0 : 8);
      const int token = n * kTileTokens + 2 * q + i % 2;
      if (row >= rows || token >= tokens) continue;
      const float v = acc[n][i] + (bias != nullptr ? bias[row] : 0.0f);
      float& o = out[token * ldo + row];
      o = accumulate ? o + v : v;
    }
  }
}

// Warps per tile: enough that the matrix has kEnoughWarps warps in all (~31 per SM on an H200),
// at most one per chunk and kWarps.
constexpr int64_t kEnoughWarps = 4096;

int WarpsPerTile(int64_t rows, int64_t cols) {
  const int64_t tiles = (rows + kTileRows - 1) / kTileRows;
  const int64_t chunks = (cols + kChunk - 1) / kChunk;
  int warps = 1;
  while (warps < kWarps && warps < chunks && tiles * warps < kEnoughWarps) warps *= 2;
  return warps;
}

template <typename T, int kTiles>
void LaunchTiles(const T* w, int64_t rows, int64_t cols, const T* x, int64_t ldx, int tokens,
                 const float* bias, float* out, int64_t ldo, bool accumulate, cudaStream_t stream) {
  const int warps_per_tile = WarpsPerTile(rows, cols);
  const int64_t tiles = (rows + kTileRows - 1) / kTileRows;
  const int tiles_per_block = kWarps / warps_per_tile;
  const int blocks = static_cast<int>((tiles + tiles_per_block - 1) / tiles_per_block);
  auto launch = [&](auto kernel) {
    LaunchOverlapped(kernel, blocks, kThreads, 0, stream, w, rows, cols, x, ldx, tokens, bias, out,
                     ldo, accumulate);
  };
  switch (warps_per_tile) {
    case 1:
      return launch(SkinnyGemmTiles<T, kTiles, 1>);
    case 2:
      return launch(SkinnyGemmTiles<T, kTiles, 2>);
    case 4:
      return launch(SkinnyGemmTiles<T, kTiles, 4>);
    default:
      return launch(SkinnyGemmTiles<T, kTiles, 8>);
  }
}

// Launches SkinnyGemmTiles<T, tiles of 8 tokens, ...> for a token count known only at run time.
template <typename T, int kTiles = 1>
void LaunchSkinnyGemm(const T* w, int64_t rows, int64_t cols, const T* x, int64_t ldx, int tokens,
                      const float* bias, float* out, int64_t ldo, bool accumulate,
                      cudaStream_t stream) {
  if constexpr (kTiles <= kMaxTiles) {
    if (tokens > kTiles * kTileTokens) {
      return LaunchSkinnyGemm<T, kTiles + 1>(w, rows, cols, x, ldx, tokens, bias, out, ldo,
                                             accumulate, stream);
    }
    LaunchTiles<T, kTiles>(w, rows, cols, x, ldx, tokens, bias, out, ldo, accumulate, stream);
  }
}

}  // namespace

bool SkinnyGemmSupports(const Matrix& w, const void* x, int64_t ldx, int64_t tokens) {
  return w.type != ElementType::kF32 && w.rows >= 1 && tokens >= 1 &&
         tokens <= kSkinnyGemmMaxTokens && w.cols % kPerLoad == 0 && ldx % kPerLoad == 0 &&
         Aligned16(w.data) && Aligned16(x);
}

bool SkinnyGemmFillsTheGpu(const Matrix& w) {
  constexpr int64_t kWarpsThatFill = 1024;  // ~8 per SM, each with 8 KB of weights in flight
  const int64_t tiles = (w.rows + kTileRows - 1) / kTileRows;
  return tiles * WarpsPerTile(w.rows, w.cols) >= kWarpsThatFill;
}

void SkinnyGemm(const void* x, int64_t ldx, int64_t tokens, const Matrix& w, const float* bias,
                float* out, int64_t ldo, bool accumulate, cudaStream_t stream) {
  const int n = static_cast<int>(tokens);
  if (w.type == ElementType::kBF16) {
    LaunchSkinnyGemm(static_cast<const __nv_bfloat16*>(w.data), w.rows, w.cols,
                     static_cast<const __nv_bfloat16*>(x), ldx, n, bias, out, ldo, accumulate,
                     stream);
  } else {
    LaunchSkinnyGemm(static_cast<const __half*>(w.data), w.rows, w.cols,
                     static_cast<const __half*>(x), ldx, n, bias, out, ldo, accumulate, stream);
  }
}

}  // namespace ssm::kernels::cuda
