#ifndef SSM_KERNELS_CUDA_TOKEN_DRAW_H_
#define SSM_KERNELS_CUDA_TOKEN_DRAW_H_

#include <cuda_runtime.h>

#include <cstdint>

namespace ssm::kernels::cuda {

// One row's draw, as engine/token_draw.h's TokenDraw (which defines what is drawn).
struct DrawParams {
  float temperature = 0.0f;
  int32_t top_k = 0;
  float top_p = 1.0f;
  float min_p = 0.0f;
  double uniform = 0.0;
};

// ids[r] = the token drawn from row r of logits [rows, vocab] (row stride ld) as params[r]
// says, by the definition of ssm::TokenDrawer: thresholds found by radix selection, weights in
// 2^-40 integer units (so the totals do not depend on the order of the parallel sums) and the
// walk in id order as a block-wide prefix sum. One block per row; params in device memory.
void DrawTokens(const float* logits, int64_t ld, int rows, int64_t vocab, const DrawParams* params,
                int32_t* ids, cudaStream_t stream);

}  // namespace ssm::kernels::cuda

#endif  // SSM_KERNELS_CUDA_TOKEN_DRAW_H_
