#include <type_traits>

#include "kernels/cuda/causal_conv1d.h"
#include "kernels/cuda/conv_common.cuh"
#include "kernels/cuda/numeric.cuh"
#include "kernels/cuda/overlapped_launch.cuh"

namespace ssm::kernels::cuda {
namespace {

constexpr int kThreads = 256;

// Input q of sequence s for channel c, where q < 0 reaches back into the window: the window
// holds inputs -(kernel-1) .. -1, oldest first.
__device__ __forceinline__ float Input(const float* x, int64_t ldx, const float* window,
                                       int64_t channels, int kernel, int64_t begin, int64_t q,
                                       int64_t c) {
  return q >= 0 ? x[(begin + q) * ldx + c] : window[(kernel - 1 + q) * channels + c];
}

constexpr int kRunTokens = 8;  // consecutive tokens per thread in ConvTokens

// grid: (runs of kRunTokens tokens, channel blocks). A thread computes one channel for a run of
// consecutive tokens, sliding the kKernel inputs along in registers, so each input is read
// about once rather than kKernel times; where a new sequence starts inside the run, the inputs
// are read afresh (reaching back into that sequence's window).
template <int kKernel>
__global__ void ConvTokens(StepLayout step, StatePool pool, int64_t layer, const float* x,
                           int64_t ldx, int64_t channels, const float* weight, const float* bias,
                           ConvOutput out) {
  const int64_t c = static_cast<int64_t>(blockIdx.y) * kThreads + threadIdx.x;
  if (c >= channels) return;
  float w[kKernel];
  LoadConvWeights(weight, c, w);
  const float b = bias != nullptr ? bias[c] : 0.0f;
  const int first = blockIdx.x * kRunTokens;
  const int last = min(first + kRunTokens, step.num_tokens);
  float inputs[kKernel];  // the current token's, oldest first
  int sequence = -1;
  for (int t = first; t < last; ++t) {
    const int s = step.token_seq[t];
    if (s != sequence) {
      sequence = s;
      const int64_t begin = step.seq_begin[s];
      const float* window = pool.Layer(step.seq_slot[s], layer);
#pragma unroll
      for (int j = 0; j < kKernel - 1; ++j) {
        inputs[j] =
            Input(x, ldx, window, channels, kKernel, begin, t - begin - (kKernel - 1) + j, c);
      }
    } else {
#pragma unroll
      for (int j = 0; j < kKernel - 1; ++j) inputs[j] = inputs[j + 1];
    }
    inputs[kKernel - 1] = x[static_cast<int64_t>(t) * ldx + c];
    StoreConvOutput(out, t, c, ConvSilu(w, b, inputs));
  }
}

// grid: (sequences, channel blocks). Each thread reads its channel's new window in full before
// writing it, so no thread sees another's writes.
__global__ void ShiftWindows(StepLayout step, StatePool pool, int64_t layer, const float* x,
                             int64_t ldx, int64_t channels, int kernel) {
  const int64_t c = static_cast<int64_t>(blockIdx.y) * kThreads + threadIdx.x;
  if (c >= channels) return;
  const int s = blockIdx.x;
  const int64_t begin = step.seq_begin[s], length = step.seq_length[s];
  float* window = pool.Layer(step.seq_slot[s], layer);
  float kept[kMaxConvKernel - 1];
  for (int j = 0; j < kernel - 1; ++j) {
    kept[j] = Input(x, ldx, window, channels, kernel, begin, length - (kernel - 1) + j, c);
  }
  for (int j = 0; j < kernel - 1; ++j) window[j * channels + c] = kept[j];
}

// A step of one token per sequence (decode), in one pass: each thread reads its channel's window
// and new input, writes the output and the shifted window. The kernel size is a template
// argument so the window stays in registers. grid: (sequences, channel blocks).
template <int kKernel>
__global__ void ConvOneToken(StepLayout step, StatePool pool, int64_t layer, const float* x,
                             int64_t ldx, int64_t channels, const float* weight, const float* bias,
                             ConvOutput out) {
  const int64_t c = static_cast<int64_t>(blockIdx.y) * kThreads + threadIdx.x;
  if (c >= channels) return;
  const int s = blockIdx.x;
  const int64_t t = step.seq_begin[s];
  // The window (this kernel's own output, a step ago) and the weights go out before the wait;
  // x is the previous kernel's.
  float* window = pool.Layer(step.seq_slot[s], layer);
  float inputs[kKernel];
#pragma unroll
  for (int j = 0; j < kKernel - 1; ++j) inputs[j] = window[j * channels + c];
  float w[kKernel];
  LoadConvWeights(weight, c, w);
  const float b = bias != nullptr ? bias[c] : 0.0f;
  WaitForPreviousKernel();
  LetNextKernelStart();
  inputs[kKernel - 1] = x[t * ldx + c];
  StoreConvOutput(out, t, c, ConvSilu(w, b, inputs));
#pragma unroll
  for (int j = 0; j < kKernel - 1; ++j) window[j * channels + c] = inputs[j + 1];
}

// Calls launch(std::integral_constant<int, kernel>{}) for a kernel size known only at run time,
// so that kernels can keep a window of that size in registers.
template <int kKernel = 1, typename Launch>
void WithKernelSize(int kernel, Launch&& launch) {
  if constexpr (kKernel <= kMaxConvKernel) {
    if (kernel != kKernel) return WithKernelSize<kKernel + 1>(kernel, launch);
    launch(std::integral_constant<int, kKernel>{});
  }
}

}  // namespace

void CausalConv1dSilu(const StepLayout& step, const StatePool& pool, int64_t layer, const float* x,
                      int64_t ldx, int64_t channels, int kernel, const float* weight,
                      const float* bias, const ConvOutput& out, cudaStream_t stream) {
  const int channel_blocks = (channels + kThreads - 1) / kThreads;
  WithKernelSize(kernel, [&](auto kernel_size) {
    constexpr int kKernel = decltype(kernel_size)::value;
    if (step.num_tokens == step.num_sequences) {  // every sequence has exactly one token
      LaunchOverlapped(ConvOneToken<kKernel>, dim3(step.num_sequences, channel_blocks), kThreads, 0,
                       stream, step, pool, layer, x, ldx, channels, weight, bias, out);
      return;
    }
    const int runs = (step.num_tokens + kRunTokens - 1) / kRunTokens;
    ConvTokens<kKernel><<<dim3(runs, channel_blocks), kThreads, 0, stream>>>(
        step, pool, layer, x, ldx, channels, weight, bias, out);
    ShiftWindows<<<dim3(step.num_sequences, channel_blocks), kThreads, 0, stream>>>(
        step, pool, layer, x, ldx, channels, kernel);
  });
}

}  // namespace ssm::kernels::cuda
