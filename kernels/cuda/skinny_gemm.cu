#include <cstdint>

#include "kernels/cuda/mma.cuh"
#include "kernels/cuda/numeric.cuh"
#include "kernels/cuda/overlapped_launch.cuh"
#include "kernels/cuda/skinny_gemm.h"

namespace ssm::kernels::cuda {
namespace {

// A block owns the rows of one m16n8k16 tile; its warps split the columns between them in rounds
// of kRoundColumns (four MMA steps of 16) and add up their partial sums at the end.
constexpr int kTileRows = 16;
constexpr int kTileTokens = 8;
constexpr int kRoundColumns = 64;
constexpr int kMaxTokenTiles = kSkinnyGemmMaxTokens / kTileTokens;

// A thread's 16 values of one row (of the matrix or of x) in a round: two 16-byte loads, at
// columns 8 q and 32 + 8 q of the round (q = lane % 4), so that each load instruction of a warp
// reads whole 64-byte runs of eight rows.
//
// An MMA step wants other columns in its fragments (q's pairs at 2q and 2q + 8 of each 16), but
// a dot product does not care in which order its columns are summed: as long as the matrix's
// fragment and x's fragment take the same columns in the same places, the product is the same.
// So step s simply takes 32-bit words 2s and 2s + 1 of both pieces.
struct Piece {
  uint4 lo, hi;
};

template <typename T>
__device__ __forceinline__ Piece LoadPiece(const T* row, int64_t column, int quad) {
  const uint4* at = reinterpret_cast<const uint4*>(row + column + 8 * quad);
  return {__ldg(at), __ldg(at + 4)};  // 4 loads = 32 columns further
}

__device__ __forceinline__ uint32_t Word(const Piece& piece, int i) {
  const uint4& half = i < 4 ? piece.lo : piece.hi;
  switch (i % 4) {
    case 0:
      return half.x;
    case 1:
      return half.y;
    case 2:
      return half.z;
    default:
      return half.w;
  }
}

// One MMA step of a round: a's 16 rows (rows g and g + 8 held by lanes of group g = lane / 4)
// times b's 8 tokens, both taken from words 2 step and 2 step + 1 of the pieces (see Piece).
template <typename T>
__device__ __forceinline__ void Mma(float (&d)[4], const Piece& row_g, const Piece& row_g8,
                                    const Piece& token_g, int step) {
  MmaTile<T>(d, Word(row_g, 2 * step), Word(row_g8, 2 * step), Word(row_g, 2 * step + 1),
             Word(row_g8, 2 * step + 1), Word(token_g, 2 * step), Word(token_g, 2 * step + 1));
}

// A block owns kRowTiles tiles of rows. Warp w takes rounds w, w + kWarps, ...; each round's
// matrix loads go out one round ahead, the first before waiting for the previous kernel (the
// matrix is no kernel's output). Rows past the matrix's end (in the last block) and tokens past
// x's end (in the last tile) read the last row or token instead, and their sums are dropped.
// More row tiles a block load each piece of x once for more rows: x is read from L1 or L2 once
// per block and round, as many bytes as the matrix's at 16 rows and 16 tokens.
//
// MMA accumulator [i][j] of lane (g, q) holds rows 16 i + g, 16 i + g + 8 for tokens 8 j + 2q,
// 8 j + 2q + 1. The warps leave them in shared memory, and the block's threads add them up and
// finish the outputs.
template <typename T, int kRowTiles, int kTokenTiles, int kWarps>
__global__ void __launch_bounds__(kWarps * 32)
    SkinnyRows(const T* w, int64_t rows, int64_t cols, const T* x, int64_t ldx, int tokens,
               const float* bias, float* out, int64_t ldo, bool accumulate) {
  constexpr int kRowPieces = 2 * kRowTiles;  // a lane's rows: g, g + 8, g + 16, ...
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int group = lane / 4, quad = lane % 4;
  const int64_t first_row = int64_t{blockIdx.x} * kRowTiles * kTileRows;
  const T* row[kRowPieces];
#pragma unroll
  for (int h = 0; h < kRowPieces; ++h) row[h] = w + min(first_row + group + 8 * h, rows - 1) * cols;
  const int rounds = static_cast<int>(cols / kRoundColumns);

  Piece rows_now[kRowPieces] = {};
  if (warp < rounds) {
#pragma unroll
    for (int h = 0; h < kRowPieces; ++h) {
      rows_now[h] = LoadPiece(row[h], int64_t{warp} * kRoundColumns, quad);
    }
  }
  WaitForPreviousKernel();
  LetNextKernelStart();
  float acc[kRowTiles][kTokenTiles][4] = {};
  for (int round = warp; round < rounds; round += kWarps) {
    const int64_t column = int64_t{round} * kRoundColumns;
    Piece tokens_now[kTokenTiles];
#pragma unroll
    for (int j = 0; j < kTokenTiles; ++j) {
      tokens_now[j] = LoadPiece(x + min(j * kTileTokens + group, tokens - 1) * ldx, column, quad);
    }
    Piece rows_next[kRowPieces];
#pragma unroll
    for (int h = 0; h < kRowPieces; ++h) rows_next[h] = rows_now[h];
    if (round + kWarps < rounds) {
#pragma unroll
      for (int h = 0; h < kRowPieces; ++h) {
        rows_next[h] = LoadPiece(row[h], column + kWarps * kRoundColumns, quad);
      }
    }
#pragma unroll
    for (int step = 0; step < 4; ++step) {
#pragma unroll
      for (int i = 0; i < kRowTiles; ++i) {
#pragma unroll
        for (int j = 0; j < kTokenTiles; ++j) {
          Mma<T>(acc[i][j], rows_now[2 * i], rows_now[2 * i + 1], tokens_now[j], step);
        }
      }
    }
#pragma unroll
    for (int h = 0; h < kRowPieces; ++h) rows_now[h] = rows_next[h];
  }

  constexpr int kTiles = kRowTiles * kTokenTiles;
  __shared__ float4 partial[kWarps][kTiles * 32];
#pragma unroll
  for (int i = 0; i < kRowTiles; ++i) {
#pragma unroll
    for (int j = 0; j < kTokenTiles; ++j) {
      const float(&a)[4] = acc[i][j];
      partial[warp][(i * kTokenTiles + j) * 32 + lane] = make_float4(a[0], a[1], a[2], a[3]);
    }
  }
  __syncthreads();
  for (int k = threadIdx.x; k < kTiles * 32 * 4; k += kWarps * 32) {
    float sum = 0.0f;
#pragma unroll
    for (int p = 0; p < kWarps; ++p) sum += reinterpret_cast<const float*>(partial[p])[k];
    const int element = k % 4, owner = k / 4 % 32, tile = k / 128;
    const int64_t r = first_row + tile / kTokenTiles * kTileRows + owner / 4 + 8 * (element / 2);
    const int token = tile % kTokenTiles * kTileTokens + 2 * (owner % 4) + element % 2;
    if (r >= rows || token >= tokens) continue;
    const float v = sum + (bias != nullptr ? bias[r] : 0.0f);
    float& o = out[token * ldo + r];
    o = accumulate ? o + v : v;
  }
}

// The grid: a block of 8 warps over one tile of rows; 16 warps where the grid is small (few
// rows) and the columns give each warp at least one round, so that the GPU has enough loads in
// flight; two tiles of rows for big matrices and more than a tile of tokens.
constexpr int kFewWarps = 8, kManyWarps = 16;
constexpr int64_t kEnoughWarps = 4096;
constexpr int64_t kTwoRowTilesMinRows = int64_t{1} << 40, kTwoRowTilesMinTokens = 9;

template <typename T, int kTokenTiles = 1>
void LaunchSkinny(const T* w, int64_t rows, int64_t cols, const T* x, int64_t ldx, int tokens,
                  const float* bias, float* out, int64_t ldo, bool accumulate,
                  cudaStream_t stream) {
  if constexpr (kTokenTiles <= kMaxTokenTiles) {
    if (tokens > kTokenTiles * kTileTokens) {
      return LaunchSkinny<T, kTokenTiles + 1>(w, rows, cols, x, ldx, tokens, bias, out, ldo,
                                              accumulate, stream);
    }
    auto launch = [&](auto kernel, int64_t rows_per_block, int warps) {
      const auto blocks = static_cast<unsigned>((rows + rows_per_block - 1) / rows_per_block);
      LaunchOverlapped(kernel, blocks, warps * 32, 0, stream, w, rows, cols, x, ldx, tokens, bias,
                       out, ldo, accumulate);
    };
    if (rows >= kTwoRowTilesMinRows && tokens >= kTwoRowTilesMinTokens) {
      return launch(SkinnyRows<T, 2, kTokenTiles, kFewWarps>, 2 * kTileRows, kFewWarps);
    }
    const int64_t blocks = (rows + kTileRows - 1) / kTileRows;
    if (blocks * kFewWarps < kEnoughWarps && cols / kRoundColumns >= kManyWarps) {
      return launch(SkinnyRows<T, 1, kTokenTiles, kManyWarps>, kTileRows, kManyWarps);
    }
    launch(SkinnyRows<T, 1, kTokenTiles, kFewWarps>, kTileRows, kFewWarps);
  }
}

}  // namespace

bool SkinnyGemmSupports(const Matrix& w, const void* x, int64_t ldx, int64_t tokens) {
  return w.type != ElementType::kF32 && tokens >= 1 && tokens <= kSkinnyGemmMaxTokens &&
         w.rows > 0 && w.cols > 0 && w.cols % kRoundColumns == 0 && Aligned16(w.data) &&
         Aligned16(x) && (tokens == 1 || ldx % 8 == 0);
}

void SkinnyGemm(const void* x, int64_t ldx, int64_t tokens, const Matrix& w, const float* bias,
                float* out, int64_t ldo, bool accumulate, cudaStream_t stream) {
  const int n = static_cast<int>(tokens);
  if (w.type == ElementType::kBF16) {
    LaunchSkinny(static_cast<const __nv_bfloat16*>(w.data), w.rows, w.cols,
                 static_cast<const __nv_bfloat16*>(x), ldx, n, bias, out, ldo, accumulate, stream);
  } else {
    LaunchSkinny(static_cast<const __half*>(w.data), w.rows, w.cols, static_cast<const __half*>(x),
                 ldx, n, bias, out, ldo, accumulate, stream);
  }
}

}  // namespace ssm::kernels::cuda
