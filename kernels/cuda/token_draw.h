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
  float repetition_penalty = 1.0f;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  // The row's adjustments in DrawTokens' `extras`: penalized_count (id, times generated) pairs
  // from penalized_begin, banned_count ids from banned_begin.
  int32_t penalized_begin = 0, penalized_count = 0;
  int32_t banned_begin = 0, banned_count = 0;
};

// ids[r] = the token drawn from row r of logits [rows, vocab] (row stride ld) as params[r]
// says, by the definition of ssm::TokenDrawer: penalties and bans applied to the row in place,
// thresholds found by radix selection, weights in 2^-40 integer units (so the totals do not
// depend on the order of the parallel sums) and the walk in id order as a block-wide prefix
// sum. One block per row; params and extras in device memory.
void DrawTokens(float* logits, int64_t ld, int rows, int64_t vocab, const DrawParams* params,
                const int32_t* extras, int32_t* ids, cudaStream_t stream);

}  // namespace ssm::kernels::cuda

#endif  // SSM_KERNELS_CUDA_TOKEN_DRAW_H_
