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
constexpr int kUnroll = 4;  // a lane's loads of a row that go out together

// Token t's output of a row: bias, store, and with kConv for a conv row the conv + SiLU of its
// channel, continuing sequence t's window in its slot.
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

// A warp takes a row, or kWarpsPerRow warps of a block share one (each taking every
// kWarpsPerRow-th run of 32 loads), so that a matrix of few rows (x_proj: dt_rank + 2 d_state)
// still has enough warps to fill the GPU. The grid covers every row at once. A lane's loads go
// out kUnroll at a time with no branch between them, so a group's loads of the matrix, and those
// of x they meet, are all in flight together: an index past the row's end (only in its last
// group) re-reads the row's last load, and its product is dropped. (A bounds check per load made
// each load of x wait for the one before it.) The first group is loaded before waiting for the
// previous kernel: the matrix is no kernel's output.
//
// After the reductions every lane holds every sum: lane t of the row's first warp finishes
// token t, with kConv also through the conv epilogue (GemvConv).
template <typename T, int kTokens, bool kNormalize, int kWarpsPerRow, bool kConv>
__global__ void __launch_bounds__(kThreads)
    GemvRows(const T* w, int64_t rows, int64_t cols, const float* x, int64_t ldx, const float* bias,
             float* out, int64_t ldo, bool accumulate, float eps, GemvConv conv) {
  constexpr int kLaneStride = 32 * kWarpsPerRow;  // between a lane's loads of a row
  constexpr int kGroup = kUnroll * kLaneStride;   // a row's loads per group, over its warps
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int part = warp % kWarpsPerRow;
  const int loads = static_cast<int>(cols / kPerLoad), groups = (loads + kGroup - 1) / kGroup;
  const int64_t row = int64_t{blockIdx.x} * (kWarps / kWarpsPerRow) + warp / kWarpsPerRow;
  // Rows past the end (in the last block) read the last row, so that their warps still meet
  // the others at the barrier; their sums are dropped.
  const uint4* row_loads = reinterpret_cast<const uint4*>(w + min(row, rows - 1) * cols);
  auto load_index = [&](int group, int u) {
    return part * 32 + lane + (group * kUnroll + u) * kLaneStride;
  };
  uint4 packed[kUnroll];
  auto load_group = [&](int group) {
#pragma unroll
    for (int u = 0; u < kUnroll; ++u)
      packed[u] = __ldg(row_loads + min(load_index(group, u), loads - 1));
  };
  load_group(0);
  WaitForPreviousKernel();
  LetNextKernelStart();
  float acc[kTokens] = {}, squares[kTokens] = {};
  for (int group = 0; group < groups; ++group) {
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int i = load_index(group, u);
      const float keep = i < loads ? 1.0f : 0.0f;
      const int64_t column = int64_t{min(i, loads - 1)} * kPerLoad;
#pragma unroll
      for (int t = 0; t < kTokens; ++t) {
        const float* x_part = x + t * ldx + column;
        if constexpr (kNormalize) squares[t] += keep * SquareSum8(x_part);
        acc[t] += keep * Dot8<T>(packed[u], x_part);
      }
    }
    if (group + 1 < groups) load_group(group + 1);
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
      for (int p = 1; p < kWarpsPerRow; ++p) {
#pragma unroll
        for (int t = 0; t < kTokens; ++t) {
          acc[t] += parts[warp + p][t];
          squares[t] += parts[warp + p][kTokens + t];
        }
      }
    }
  }
  if (part != 0 || row >= rows) return;
#pragma unroll
  for (int t = 0; t < kTokens; ++t) {
    if (lane == t) {
      FinishToken<kConv>(row, t, kNormalize ? acc[t] * rsqrtf(squares[t] / cols + eps) : acc[t],
                         bias, out, ldo, accumulate, conv);
    }
  }
}

// Warps per output row: enough that the matrix has at least kEnoughWarps warps in all (~31
// per SM on an H200), at most kWarps.
int WarpsPerRow(int64_t rows) {
  constexpr int64_t kEnoughWarps = 4096;
  int warps = 1;
  while (warps < kWarps && rows * warps < kEnoughWarps) warps *= 2;
  return warps;
}

template <typename T, int kTokens, bool kNormalize, bool kConv>
void LaunchRows(const T* w, int64_t rows, int64_t cols, const float* x, int64_t ldx,
                const float* bias, float* out, int64_t ldo, bool accumulate, float eps,
                const GemvConv& conv, cudaStream_t stream) {
  auto launch = [&](auto warps_per_row) {
    constexpr int kWarpsPerRow = decltype(warps_per_row)::value;
    constexpr int kRowsPerBlock = kWarps / kWarpsPerRow;
    const auto blocks = static_cast<unsigned>((rows + kRowsPerBlock - 1) / kRowsPerBlock);
    LaunchOverlapped(GemvRows<T, kTokens, kNormalize, kWarpsPerRow, kConv>, blocks, kThreads, 0,
                     stream, w, rows, cols, x, ldx, bias, out, ldo, accumulate, eps, conv);
  };
  switch (WarpsPerRow(rows)) {
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
  return w.type != ElementType::kF32 && tokens >= 1 && tokens <= kGemvMaxTokens && w.rows > 0 &&
         w.cols > 0 && w.cols % kPerLoad == 0 && Aligned16(w.data) && Aligned16(x) &&
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
