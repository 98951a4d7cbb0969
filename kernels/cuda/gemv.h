#ifndef SSM_KERNELS_CUDA_GEMV_H_
#define SSM_KERNELS_CUDA_GEMV_H_

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/causal_conv1d.h"
#include "kernels/cuda/linear.h"
#include "kernels/cuda/step_layout.h"

namespace ssm::kernels::cuda {

// The most tokens Gemv takes: each token re-reads x from L1 for every weight load, and on the
// H200 cuBLAS was faster from 4 tokens on (docs/benchmarks.md).
constexpr int64_t kGemvMaxTokens = 2;

// Whether Gemv can run this product: a non-empty f16/bf16 matrix whose rows start on 16-byte
// boundaries, at most kGemvMaxTokens tokens, and x rows on 16-byte boundaries too.
bool GemvSupports(const Matrix& w, const float* x, int64_t ldx, int64_t tokens);

// The same product as Linear (out[t, :] (=|+=) x[t, :] . w^T (+ bias)) for a few tokens, reading
// the matrix once straight from fp32 x: a decode step of a small batch is a matrix-vector
// product bound by the bytes of the matrix, where cuBLAS needs x narrowed first and splits
// tall-and-thin products over several kernels. 16-byte loads; a warp per output row, or up to
// 8 warps sharing one when rows are few.
// With normalize, x rows are taken RMS-normalized: each token's product is scaled by
// 1 / sqrt(mean(x[t, :]^2) + eps) before the bias is added. That is an RMSNorm whose weight has
// been folded into w's columns, at no extra memory traffic (each warp reads all of x anyway).
struct GemvNormalize {
  bool enabled = false;
  float eps = 0.0f;
};
// With a conv, the product is in_proj of a decode step (token t is sequence t's one token) and
// its rows [first_row, first_row + channels) are the inputs of the causal conv + SiLU: each
// such output also goes through that channel's conv, continuing the sequence's window in its
// slot, and the result is stored as CausalConv1dSilu would (causal_conv1d.h), window shift
// included. That saves a decode step's conv kernel per layer: a small batch's step is a chain
// of short kernels, each paying its start-up and first memory round trip. Conv kernels of
// kGemvConvKernel taps only (every published Mamba's).
constexpr int kGemvConvKernel = 4;
struct GemvConv {
  const float* weight = nullptr;  // [channels, kGemvConvKernel]; null: no conv
  const float* bias = nullptr;    // [channels] or null
  int64_t first_row = 0;
  int64_t channels = 0;
  StepLayout step;
  StatePool pool;
  int64_t layer = 0;
  ConvOutput out;
};
void Gemv(const float* x, int64_t ldx, int64_t tokens, const Matrix& w, const float* bias,
          float* out, int64_t ldo, bool accumulate, GemvNormalize normalize, cudaStream_t stream,
          const GemvConv& conv = {});

}  // namespace ssm::kernels::cuda

#endif  // SSM_KERNELS_CUDA_GEMV_H_
