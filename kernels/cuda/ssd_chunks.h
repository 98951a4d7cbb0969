#ifndef SSM_KERNELS_CUDA_SSD_CHUNKS_H_
#define SSM_KERNELS_CUDA_SSD_CHUNKS_H_

// The two chunk passes of the chunked scan (selective_scan.h) in Mamba-2's matrix form (SSD,
// "state space duality"), for heads of one scalar A: within a chunk the recurrence is a product
// of small matrices, so each pass is a few dense tile products per chunk and head instead of a
// token-by-token walk per row. Internal to kernels/cuda; selective_scan.cu decides when.
#include <cuda_runtime.h>

#include "kernels/cuda/scan_common.cuh"

namespace ssm::kernels::cuda {

// Whether the SSD passes serve this scan: one A per head, heads of 64 rows of 128 states (every
// published Mamba-2 checkpoint); gated or not (the outputs pass through Output, as every scan
// kernel's do).
bool SsdChunksSupport(const ScanArgs& args);

// For each chunk of each sequence: its scores C_t . B_u (per group), then each row's final
// state from a zero start and each head's summed step size, into `chunks`, as the zero-start
// pass of the chunked scan leaves them.
void SsdChunkEnds(const StepLayout& step, const ScanArgs& args, const ChunkWorkspace& chunks,
                  int max_chunks, cudaStream_t stream);

// For each chunk: the outputs y, from the chunk's true start state (in chunks.states, as the
// carry pass leaves it) and the scores SsdChunkEnds kept.
void SsdChunkOutputs(const StepLayout& step, const ScanArgs& args, const ChunkWorkspace& chunks,
                     int max_chunks, cudaStream_t stream);

}  // namespace ssm::kernels::cuda

#endif  // SSM_KERNELS_CUDA_SSD_CHUNKS_H_
