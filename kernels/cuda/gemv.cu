#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "kernels/cuda/conv_common.cuh"
#include "kernels/cuda/gemv.h"
#include "kernels/cuda/numeric.cuh"
#include "kernels/cuda/overlapped_launch.cuh"
#include "kernels/cuda/packed_dot.cuh"

namespace ssm::kernels::cuda {
namespace {

constexpr int kWarps = 8;
constexpr int kThreads = kWarps * 32;
constexpr int kPerLoad = kPackedValues;
constexpr int kUnroll = 8;  // loads a lane keeps in flight

// Token t's output of a row: bias, store, and with kConv for a conv row the conv + SiLU of its
// channel, continuing sequence t's window in its slot. The conv's inputs are loaded only here:
// the lane's next loads of the matrix are in flight meanwhile.
template <bool kConv>
__device__ void FinishToken(int64_t row, int t, float sum, const float* bias, float* out,
                            int64_t ldo, bool accumulate, const GemvConv& conv) {
  const float v = sum + (bias != nullptr ? bias[row] : 0.0f);
  float& o = out[t * ldo + row];
  o = accumulate ? o + v : v;
  if constexpr (kConv) {
    const int64_t channel = row - conv.first_row;
    if (channel < 0 || channel >= conv.channels) return;
    float* window = conv.pool.Layer(conv.step.seq_slot[t], conv.layer) + channel;
    float inputs[kGemvConvKernel], weights[kGemvConvKernel];
#pragma unroll
    for (int j = 0; j < kGemvConvKernel - 1; ++j) inputs[j] = window[j * conv.channels];
    inputs[kGemvConvKernel - 1] = o;
    LoadConvWeights(conv.weight, channel, weights);
    const float conv_bias = conv.bias != nullptr ? conv.bias[channel] : 0.0f;
    StoreConvOutput(conv.out, t, channel, ConvSilu(weights, conv_bias, inputs));
#pragma unroll
    for (int j = 0; j < kGemvConvKernel - 1; ++j) window[j * conv.channels] = inputs[j + 1];
  }
}

// kWarpsPerRow warps share each output row, each taking every kWarpsPerRow-th run of 32 loads:
// a short row (out_proj's, x_proj's) is then one round of loads per lane, and a matrix of few
// rows (x_proj: dt_rank + 2 d_state) still has enough warps to fill the GPU.
//
// The grid is only as big as the GPU holds at once, and each warp streams through its rows
// (every gridDim.x * kRowsPerBlock-th) round after round of kUnroll loads: as soon as a load of
// this round has been used, the same load of the next round goes out, that of the next row
// when this row is done. So a lane always has loads in flight, also while its row is reduced
// and finished, where a grid of one row per warp leaves each warp idle from its last load to
// its exit and the next block's start (in_proj ran at ~55% of the bandwidth that way).
//
// Lane t of the row's first warp finishes token t (after the reductions every lane holds the
// same sums), with kConv also through the conv epilogue (GemvConv).
template <typename T, int kTokens, bool kNormalize, int kWarpsPerRow, bool kConv>
__global__ void __launch_bounds__(kThreads)
    GemvRows(const T* w, int64_t rows, int64_t cols, const float* x, int64_t ldx, const float* bias,
             float* out, int64_t ldo, bool accumulate, float eps, GemvConv conv) {
  constexpr int kRowsPerBlock = kWarps / kWarpsPerRow;
  constexpr int kLaneStride = 32 * kWarpsPerRow;  // between a lane's loads of a row
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int part = warp % kWarpsPerRow;
  const int loads = static_cast<int>(cols / kPerLoad), first = part * 32 + lane;
  const int rounds = max(1, (loads + kLaneStride * kUnroll - 1) / (kLaneStride * kUnroll));
  const int64_t row_stride = static_cast<int64_t>(gridDim.x) * kRowsPerBlock;
  // Which of the row's 16-byte loads is this lane's u-th of a round.
  auto load_index = [&](int round, int u) { return first + (round * kUnroll + u) * kLaneStride; };
  // Rows at or past `rows` load nothing: their warps still meet at the block's barriers.
  auto load = [&](int64_t row, int round, int u) {
    const int i = load_index(round, u);
    return row < rows && i < loads ? __ldg(reinterpret_cast<const uint4*>(w + row * cols) + i)
                                   : make_uint4(0, 0, 0, 0);
  };
  int64_t block_row = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock;
  int64_t row = block_row + warp / kWarpsPerRow;
  int round = 0;
  // The matrix is no kernel's output: the first round of loads goes out before the wait.
  uint4 packed[kUnroll];
#pragma unroll
  for (int u = 0; u < kUnroll; ++u) packed[u] = load(row, 0, u);
  WaitForPreviousKernel();
  LetNextKernelStart();
  float acc[kTokens] = {}, squares[kTokens] = {};
  while (block_row < rows) {
    const bool row_done = round + 1 == rounds;
    const int64_t next_row = row_done ? row + row_stride : row;
    const int next_round = row_done ? 0 : round + 1;
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int i = load_index(round, u);
      if (row < rows && i < loads) {
#pragma unroll
        for (int t = 0; t < kTokens; ++t) {
          acc[t] += Dot8<T, kNormalize>(packed[u], x + t * ldx + int64_t{i} * kPerLoad, squares[t]);
        }
      }
      packed[u] = load(next_row, next_round, u);
    }
    if (!row_done) {
      round = next_round;
      continue;
    }
#pragma unroll
    for (int t = 0; t < kTokens; ++t) {
      for (int offset = 16; offset > 0; offset /= 2) {
        acc[t] += __shfl_xor_sync(0xffffffffu, acc[t], offset);
        if constexpr (kNormalize) squares[t] += __shfl_xor_sync(0xffffffffu, squares[t], offset);
      }
    }
    if constexpr (kWarpsPerRow > 1) {  // the row's parts meet in shared memory
      __shared__ float parts[kWarps][2 * kTokens];
      if (lane == 0) {
#pragma unroll
        for (int t = 0; t < kTokens; ++t) {
          parts[warp][t] = acc[t];
          parts[warp][kTokens + t] = squares[t];
        }
      }
      __syncthreads();
      if (part == 0) {
#pragma unroll
        for (int t = 0; t < kTokens; ++t) {
          for (int p = 1; p < kWarpsPerRow; ++p) {
            acc[t] += parts[warp + p][t];
            squares[t] += parts[warp + p][kTokens + t];
          }
        }
      }
      __syncthreads();  // before the next row's parts
    }
    if (part == 0 && lane < kTokens && row < rows) {
#pragma unroll
      for (int t = 0; t < kTokens; ++t) {
        if (lane == t)
          FinishToken<kConv>(row, t, kNormalize ? acc[t] * rsqrtf(squares[t] / cols + eps) : acc[t],
                             bias, out, ldo, accumulate, conv);
      }
    }
#pragma unroll
    for (int t = 0; t < kTokens; ++t) acc[t] = squares[t] = 0.0f;
    block_row += row_stride;
    row = next_row;
    round = next_round;
  }
}

// Warps per output row: enough that a lane's share of a row is one round of loads, and that
// the matrix has at least kEnoughWarps warps in all (~31 per SM on an H200), at most kWarps.
int WarpsPerRow(int64_t rows, int64_t cols) {
  constexpr int64_t kEnoughWarps = 4096;
  int warps = 1;
  while (warps < kWarps &&
         (cols > warps * 32 * kPerLoad * kUnroll || rows * warps < kEnoughWarps)) {
    warps *= 2;
  }
  return warps;
}

// Launches kKernel over `rows` rows of kRowsPerBlock each, in no more blocks than the GPU holds
// at once (their warps then stream through the rest). A process drives one GPU (the backend's
// `device` option), so that count is taken once per kernel, on the first launch.
template <auto kKernel, int kRowsPerBlock, typename... Args>
void LaunchStreaming(int64_t rows, cudaStream_t stream, Args&&... args) {
  static const int64_t resident_blocks = [] {
    int blocks_per_sm = 1, device = 0, sms = 1;
    cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks_per_sm, kKernel, kThreads, 0);
    cudaGetDevice(&device);
    cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
    return int64_t{std::max(blocks_per_sm, 1)} * sms;
  }();
  const int64_t needed = (rows + kRowsPerBlock - 1) / kRowsPerBlock;
  const int blocks = static_cast<int>(std::min(needed, resident_blocks));
  LaunchOverlapped(kKernel, blocks, kThreads, 0, stream, std::forward<Args>(args)...);
}

template <typename T, int kTokens, bool kNormalize, bool kConv>
void LaunchRows(const T* w, int64_t rows, int64_t cols, const float* x, int64_t ldx,
                const float* bias, float* out, int64_t ldo, bool accumulate, float eps,
                const GemvConv& conv, cudaStream_t stream) {
  auto launch = [&](auto warps_per_row) {
    constexpr int kWarpsPerRow = decltype(warps_per_row)::value;
    LaunchStreaming<GemvRows<T, kTokens, kNormalize, kWarpsPerRow, kConv>, kWarps / kWarpsPerRow>(
        rows, stream, w, rows, cols, x, ldx, bias, out, ldo, accumulate, eps, conv);
  };
  switch (WarpsPerRow(rows, cols)) {
    case 1:
      return launch(std::integral_constant<int, 1>{});
    case 2:
      return launch(std::integral_constant<int, 2>{});
    case 4:
      return launch(std::integral_constant<int, 4>{});
    default:
      return launch(std::integral_constant<int, 8>{});
  }
}

// Launches GemvRows<T, tokens, normalize, ..., conv> for arguments known only at run time.
template <typename T, int kTokens = 1>
void LaunchGemv(int64_t tokens, const T* w, int64_t rows, int64_t cols, const float* x, int64_t ldx,
                const float* bias, float* out, int64_t ldo, bool accumulate,
                GemvNormalize normalize, const GemvConv& conv, cudaStream_t stream) {
  if constexpr (kTokens <= kGemvMaxTokens) {
    if (tokens != kTokens) {
      return LaunchGemv<T, kTokens + 1>(tokens, w, rows, cols, x, ldx, bias, out, ldo, accumulate,
                                        normalize, conv, stream);
    }
    auto launch = [&](auto normalized, auto convolved) {
      LaunchRows<T, kTokens, decltype(normalized)::value, decltype(convolved)::value>(
          w, rows, cols, x, ldx, bias, out, ldo, accumulate, normalize.eps, conv, stream);
    };
    using Yes = std::true_type;
    using No = std::false_type;
    if (conv.weight != nullptr) {
      return normalize.enabled ? launch(Yes{}, Yes{}) : launch(No{}, Yes{});
    }
    return normalize.enabled ? launch(Yes{}, No{}) : launch(No{}, No{});
  }
}

}  // namespace

bool GemvSupports(const Matrix& w, const float* x, int64_t ldx, int64_t tokens) {
  return w.type != ElementType::kF32 && tokens >= 1 && tokens <= kGemvMaxTokens &&
         w.cols % kPerLoad == 0 && Aligned16(w.data) && Aligned16(x) &&
         (tokens == 1 || ldx % 4 == 0);
}

void Gemv(const float* x, int64_t ldx, int64_t tokens, const Matrix& w, const float* bias,
          float* out, int64_t ldo, bool accumulate, GemvNormalize normalize, cudaStream_t stream,
          const GemvConv& conv) {
  if (w.type == ElementType::kBF16) {
    LaunchGemv(tokens, static_cast<const __nv_bfloat16*>(w.data), w.rows, w.cols, x, ldx, bias, out,
               ldo, accumulate, normalize, conv, stream);
  } else {
    LaunchGemv(tokens, static_cast<const __half*>(w.data), w.rows, w.cols, x, ldx, bias, out, ldo,
               accumulate, normalize, conv, stream);
  }
}

}  // namespace ssm::kernels::cuda
