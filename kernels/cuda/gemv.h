#ifndef SSM_KERNELS_CUDA_GEMV_H_
#define SSM_KERNELS_CUDA_GEMV_H_

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/linear.h"

namespace ssm::kernels::cuda {

// The most tokens Gemv takes: each token re-reads x from L1 for every weight load, and on the
// H200 cuBLAS was faster from 4 tokens on (docs/benchmarks.md).
constexpr int64_t kGemvMaxTokens = 2;

// Whether Gemv can run this product: an f16/bf16 matrix whose rows start on 16-byte boundaries,
// at most kGemvMaxTokens tokens, and x rows on 16-byte boundaries too.
bool GemvSupports(const Matrix& w, const float* x, int64_t ldx, int64_t tokens);

// The same product as Linear (out[t, :] (=|+=) x[t, :] . w^T (+ bias)) for a few tokens, reading
// the matrix once straight from fp32 x: a decode step of a small batch is a matrix-vector
// product bound by the bytes of the matrix, where cuBLAS needs x narrowed first and splits
// tall-and-thin products over several kernels. 16-byte loads; one warp per output row, or up to
// 8 sharing one when rows are long or few.
// With normalize, x rows are taken RMS-normalized: each token's product is scaled by
// 1 / sqrt(mean(x[t, :]^2) + eps) before the bias is added. That is an RMSNorm whose weight has
// been folded into w's columns, at no extra memory traffic (each warp reads all of x anyway).
struct GemvNormalize {
  bool enabled = false;
  float eps = 0.0f;
};
void Gemv(const float* x, int64_t ldx, int64_t tokens, const Matrix& w, const float* bias,
          float* out, int64_t ldo, bool accumulate, GemvNormalize normalize, cudaStream_t stream);

}  // namespace ssm::kernels::cuda

#endif  // SSM_KERNELS_CUDA_GEMV_H_
