#ifndef SSM_KERNELS_CUDA_SKINNY_GEMM_H_
#define SSM_KERNELS_CUDA_SKINNY_GEMM_H_

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/linear.h"

namespace ssm::kernels::cuda {

// The most tokens SkinnyGemm takes.
constexpr int64_t kSkinnyGemmMaxTokens = 32;

// Whether SkinnyGemm can run this product: a non-empty f16/bf16 matrix, 1 to
// kSkinnyGemmMaxTokens tokens, a multiple of 64 columns, and the matrix and every row of x on
// 16-byte boundaries.
bool SkinnyGemmSupports(const Matrix& w, const void* x, int64_t ldx, int64_t tokens);

// The same product as Gemm::Linear (out[t, :] (=|+=) x[t, :] . w^T (+ bias)), x in the matrix's
// type (rows ldx elements apart), for a decode step of
// a few sequences: the matrix is read once, straight into the tensor cores' registers, with no
// shared-memory staging and no split-K pass. That is what a product of a handful of tokens needs:
// it is bound by the matrix's bytes, where cuBLAS's tiles are built for many tokens. Launched
// overlapped (overlapped_launch.cuh): a block's first loads of the matrix go out before the
// kernel that writes x has finished.
void SkinnyGemm(const void* x, int64_t ldx, int64_t tokens, const Matrix& w, const float* bias,
                float* out, int64_t ldo, bool accumulate, cudaStream_t stream);

}  // namespace ssm::kernels::cuda

#endif  // SSM_KERNELS_CUDA_SKINNY_GEMM_H_
