#include <cstdint>
#include <type_traits>

#include "kernels/cuda/conv_common.cuh"
#include "kernels/cuda/gemv.h"
#include "kernels/cuda/numeric.cuh"
#include "kernels/cuda/overlapped_launch.cuh"
#include "kernels/cuda/packed_dot.cuh"

namespace ssm::kernels::cuda {
namespace {

constexpr int kWarps = 8;  // output rows per block
constexpr int kThreads = kWarps * 32;
constexpr int kPerLoad = kPackedValues;
constexpr int kUnroll = 8;  // loads a lane issues before it waits for the first

// kWarpsPerRow warps share each output row, each taking every kWarpsPerRow-th run of 32 loads:
// a short row (out_proj's, x_proj's) is then one round of loads per lane, and a matrix of few
// rows (x_proj: dt_rank + 2 d_state) still has enough warps to fill the GPU. Lane t of the row's
// first warp finishes token t (after the reductions every lane holds the same sums), with kConv
// also through the conv epilogue (GemvConv).
template <typename T, int kTokens, bool kNormalize, int kWarpsPerRow, bool kConv>
__global__ void GemvRows(const T* w, int64_t rows, int64_t cols, const float* x, int64_t ldx,
                         const float* bias, float* out, int64_t ldo, bool accumulate, float eps,
                         GemvConv conv) {
  constexpr int kRowsPerBlock = kWarps / kWarpsPerRow;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int part = warp % kWarpsPerRow, row_in_block = warp / kWarpsPerRow;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + row_in_block;
  const bool active = row < rows;  // inactive warps still meet at the barrier below
  const uint4* weights = reinterpret_cast<const uint4*>(w + (active ? row : 0) * cols);
  const int64_t loads = active ? cols / kPerLoad : 0;
  float acc[kTokens] = {}, squares[kTokens] = {};
  auto load_round = [&](int64_t base, uint4(&packed)[kUnroll]) {
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t i = base + u * 32 * kWarpsPerRow;
      packed[u] = i < loads ? __ldg(weights + i) : make_uint4(0, 0, 0, 0);
    }
  };
  // The matrix is no kernel's output: its first round of loads goes out before the wait.
  const int64_t first = part * 32 + lane;
  uint4 packed[kUnroll];
  load_round(first, packed);
  // So are the conv's weights, and its window is only this kernel's own output (a step ago).
  const int64_t channel = row - conv.first_row;
  const bool conv_row = kConv && active && channel >= 0 && channel < conv.channels;
  const bool finishes_a_token = part == 0 && lane < kTokens;
  float window[kGemvConvKernel - 1], conv_weights[kGemvConvKernel], conv_bias = 0.0f;
  float* slot_window = nullptr;
  if (conv_row && finishes_a_token) {
    slot_window = conv.pool.Layer(conv.step.seq_slot[lane], conv.layer) + channel;
#pragma unroll
    for (int j = 0; j < kGemvConvKernel - 1; ++j) window[j] = slot_window[j * conv.channels];
    LoadConvWeights(conv.weight, channel, conv_weights);
    conv_bias = conv.bias != nullptr ? conv.bias[channel] : 0.0f;
  }
  WaitForPreviousKernel();
  LetNextKernelStart();
  for (int64_t base = first; base < loads; base += 32 * kWarpsPerRow * kUnroll) {
    if (base != first) load_round(base, packed);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t i = base + u * 32 * kWarpsPerRow;
      if (i >= loads) break;
#pragma unroll
      for (int t = 0; t < kTokens; ++t) {
        acc[t] += Dot8<T, kNormalize>(packed[u], x + t * ldx + i * kPerLoad, squares[t]);
      }
    }
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
    if (part != 0) return;
#pragma unroll
    for (int t = 0; t < kTokens; ++t) {
      for (int p = 1; p < kWarpsPerRow; ++p) {
        acc[t] += parts[warp + p][t];
        squares[t] += parts[warp + p][kTokens + t];
      }
    }
  }
  if (!active || !finishes_a_token) return;
#pragma unroll
  for (int t = 0; t < kTokens; ++t) {
    if (lane != t) continue;
    if constexpr (kNormalize) acc[t] *= rsqrtf(squares[t] / cols + eps);
    const float v = acc[t] + (bias != nullptr ? bias[row] : 0.0f);
    float& o = out[t * ldo + row];
    o = accumulate ? o + v : v;
    if (conv_row) {
      float inputs[kGemvConvKernel];
#pragma unroll
      for (int j = 0; j < kGemvConvKernel - 1; ++j) inputs[j] = window[j];
      inputs[kGemvConvKernel - 1] = o;
      StoreConvOutput(conv.out, t, channel, ConvSilu(conv_weights, conv_bias, inputs));
#pragma unroll
      for (int j = 0; j < kGemvConvKernel - 1; ++j) slot_window[j * conv.channels] = inputs[j + 1];
    }
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

template <typename T, int kTokens, bool kNormalize, bool kConv>
void LaunchRows(const T* w, int64_t rows, int64_t cols, const float* x, int64_t ldx,
                const float* bias, float* out, int64_t ldo, bool accumulate, float eps,
                const GemvConv& conv, cudaStream_t stream) {
  const int warps_per_row = WarpsPerRow(rows, cols);
  const int rows_per_block = kWarps / warps_per_row;
  const int blocks = static_cast<int>((rows + rows_per_block - 1) / rows_per_block);
  auto launch = [&](auto kernel) {
    LaunchOverlapped(kernel, blocks, kThreads, 0, stream, w, rows, cols, x, ldx, bias, out, ldo,
                     accumulate, eps, conv);
  };
  switch (warps_per_row) {
    case 1:
      return launch(GemvRows<T, kTokens, kNormalize, 1, kConv>);
    case 2:
      return launch(GemvRows<T, kTokens, kNormalize, 2, kConv>);
    case 4:
      return launch(GemvRows<T, kTokens, kNormalize, 4, kConv>);
    default:
      return launch(GemvRows<T, kTokens, kNormalize, 8, kConv>);
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
