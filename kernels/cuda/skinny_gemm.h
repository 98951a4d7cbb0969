#ifndef SSM_KERNELS_CUDA_SKINNY_GEMM_H_
#define SSM_KERNELS_CUDA_SKINNY_GEMM_H_

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/linear.h"

namespace ssm::kernels::cuda {

// The most tokens SkinnyGemm takes: eight tensor-core tiles of 8 tokens.
constexpr int64_t kSkinnyGemmMaxTokens = 64;

// Whether SkinnyGemm can run this product: an f16/bf16 matrix with rows on 16-byte boundaries
// (cols a multiple of 8), x of the matrix's type with its rows on 16-byte boundaries, and
// 1 to kSkinnyGemmMaxTokens tokens.
bool SkinnyGemmSupports(const Matrix& w, const void* x, int64_t ldx, int64_t tokens);

// Whether the matrix has rows enough to keep the GPU's memory busy with SkinnyGemm's split of the
// work (tiles of 16 rows, each shared by up to 8 warps): x_proj's 160 rows do not.
bool SkinnyGemmFillsTheGpu(const Matrix& w);

// The same product as Linear (out[t, :] (=|+=) x[t, :cols] . w^T (+ bias)) for a decode step of
// a few sequences, on the tensor cores, reading the matrix once: x already in w's 16-bit type.
// At 4 to 64 tokens the product is still bound by the matrix's bytes, and cuBLAS's kernels for
// it read them well below the bandwidth (docs/cuda.md). Each warp owns 16 rows and a share of
// their columns, loads the weights with 16-byte loads straight into mma fragments, and takes
// the tokens 8 at a time; the warps sharing a tile meet in shared memory. Accumulation in fp32.
void SkinnyGemm(const void* x, int64_t ldx, int64_t tokens, const Matrix& w, const float* bias,
                float* out, int64_t ldo, bool accumulate, cudaStream_t stream);

}  // namespace ssm::kernels::cuda

#endif  // SSM_KERNELS_CUDA_SKINNY_GEMM_H_
