#include <cstdint>

#include "kernels/cuda/gemv.h"
#include "kernels/cuda/numeric.cuh"

namespace ssm::kernels::cuda {
namespace {

constexpr int kWarps = 8;  // output rows per block
constexpr int kThreads = kWarps * 32;
constexpr int kPerLoad = 8;  // 16-bit elements per 16-byte load
constexpr int kUnroll = 8;   // loads a lane issues before it waits for the first

__device__ __forceinline__ float2 Widen2(uint32_t bits, const __nv_bfloat16*) {
  return __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&bits));
}
__device__ __forceinline__ float2 Widen2(uint32_t bits, const __half*) {
  return __half22float2(*reinterpret_cast<const __half2*>(&bits));
}

// Dot product of 8 packed 16-bit weights with x[0, 8); with kSquares also adds x's squares.
template <typename T, bool kSquares>
__device__ __forceinline__ float Dot8(uint4 packed, const float* x, float& squares) {
  const float4 lo = reinterpret_cast<const float4*>(x)[0];
  const float4 hi = reinterpret_cast<const float4*>(x)[1];
  if constexpr (kSquares) {
    squares += lo.x * lo.x + lo.y * lo.y + lo.z * lo.z + lo.w * lo.w + hi.x * hi.x + hi.y * hi.y +
               hi.z * hi.z + hi.w * hi.w;
  }
  const float2 w0 = Widen2(packed.x, static_cast<const T*>(nullptr));
  const float2 w1 = Widen2(packed.y, static_cast<const T*>(nullptr));
  const float2 w2 = Widen2(packed.z, static_cast<const T*>(nullptr));
  const float2 w3 = Widen2(packed.w, static_cast<const T*>(nullptr));
  return w0.x * lo.x + w0.y * lo.y + w1.x * lo.z + w1.y * lo.w + w2.x * hi.x + w2.y * hi.y +
         w3.x * hi.z + w3.y * hi.w;
}

template <typename T, int kTokens, bool kNormalize>
__global__ void GemvRows(const T* w, int64_t rows, int64_t cols, const float* x, int64_t ldx,
                         const float* bias, float* out, int64_t ldo, bool accumulate, float eps) {
  const int lane = threadIdx.x % 32;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32;
  if (row >= rows) return;  // a whole warp leaves together
  const uint4* weights = reinterpret_cast<const uint4*>(w + row * cols);
  const int64_t loads = cols / kPerLoad;
  float acc[kTokens] = {}, squares[kTokens] = {};
  for (int64_t base = lane; base < loads; base += 32 * kUnroll) {
    uint4 packed[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t i = base + u * 32;
      packed[u] = i < loads ? __ldg(weights + i) : make_uint4(0, 0, 0, 0);
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t i = base + u * 32;
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
    if constexpr (kNormalize) acc[t] *= rsqrtf(squares[t] / cols + eps);
  }
  if (lane == 0) {
#pragma unroll
    for (int t = 0; t < kTokens; ++t) {
      float v = acc[t] + (bias != nullptr ? bias[row] : 0.0f);
      float& o = out[t * ldo + row];
      o = accumulate ? o + v : v;
    }
  }
}

// Launches GemvRows<T, tokens, normalize> for arguments known only at run time.
template <typename T, int kTokens = 1>
void LaunchGemv(int64_t tokens, const T* w, int64_t rows, int64_t cols, const float* x, int64_t ldx,
                const float* bias, float* out, int64_t ldo, bool accumulate,
                GemvNormalize normalize, cudaStream_t stream) {
  if constexpr (kTokens <= kGemvMaxTokens) {
    if (tokens != kTokens) {
      return LaunchGemv<T, kTokens + 1>(tokens, w, rows, cols, x, ldx, bias, out, ldo, accumulate,
                                        normalize, stream);
    }
    const int blocks = static_cast<int>((rows + kWarps - 1) / kWarps);
    if (normalize.enabled) {
      GemvRows<T, kTokens, true><<<blocks, kThreads, 0, stream>>>(w, rows, cols, x, ldx, bias, out,
                                                                  ldo, accumulate, normalize.eps);
    } else {
      GemvRows<T, kTokens, false><<<blocks, kThreads, 0, stream>>>(w, rows, cols, x, ldx, bias, out,
                                                                   ldo, accumulate, 0.0f);
    }
  }
}

}  // namespace

bool GemvSupports(const Matrix& w, const float* x, int64_t ldx, int64_t tokens) {
  return w.type != ElementType::kF32 && tokens >= 1 && tokens <= kGemvMaxTokens &&
         w.cols % kPerLoad == 0 && Aligned16(w.data) && Aligned16(x) &&
         (tokens == 1 || ldx % 4 == 0);
}

void Gemv(const float* x, int64_t ldx, int64_t tokens, const Matrix& w, const float* bias,
          float* out, int64_t ldo, bool accumulate, GemvNormalize normalize, cudaStream_t stream) {
  if (w.type == ElementType::kBF16) {
    LaunchGemv(tokens, static_cast<const __nv_bfloat16*>(w.data), w.rows, w.cols, x, ldx, bias, out,
               ldo, accumulate, normalize, stream);
  } else {
    LaunchGemv(tokens, static_cast<const __half*>(w.data), w.rows, w.cols, x, ldx, bias, out, ldo,
               accumulate, normalize, stream);
  }
}

}  // namespace ssm::kernels::cuda
