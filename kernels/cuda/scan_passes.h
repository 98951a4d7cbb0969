#ifndef SSM_KERNELS_CUDA_SCAN_PASSES_H_
#define SSM_KERNELS_CUDA_SCAN_PASSES_H_

// The selective scan's passes that live in files of their own; SelectiveScan
// (selective_scan.cu) picks among them. Internal to kernels/cuda.
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/scan_common.cuh"

namespace ssm::kernels::cuda {

// The sequences of the step with one token (all of them in a decode step, or with
// only_single_tokens those of a mixed step): scan_one_token.cu.
void ScanSingleTokens(const StepLayout& step, const StatePool& pool, int64_t layer,
                      int64_t conv_floats, const ScanArgs& args, bool only_single_tokens,
                      cudaStream_t stream);

// A chunk pass (kChunkEnds or kChunkOutputs) with a row per lane, for Mamba-1's rows:
// scan_chunk_rows.cu.
bool RowPerLaneSupports(const ScanArgs& args);
void ScanChunksRowPerLane(Span span, const StepLayout& step, const ScanArgs& args,
                          const ChunkWorkspace& chunks, int max_chunks, bool vector_state,
                          cudaStream_t stream);

}  // namespace ssm::kernels::cuda

#endif  // SSM_KERNELS_CUDA_SCAN_PASSES_H_
