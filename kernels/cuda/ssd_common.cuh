#ifndef SSM_KERNELS_CUDA_SSD_COMMON_CUH_
#define SSM_KERNELS_CUDA_SSD_COMMON_CUH_

// What the two forms of the SSD chunk passes (ssd_chunks.h) share: the head shape, the chunk a
// block works on, and the chunk's step sizes. Internal to kernels/cuda.
#include "kernels/cuda/scan_common.cuh"

namespace ssm::kernels::cuda {
namespace ssd {

constexpr int kL = kScanChunkTokens;  // tokens per chunk
constexpr int kP = 64;                // rows per head
constexpr int kN = 128;               // state values per row
constexpr int kThreads = 256;

// The chunk a block works on: chunk blockIdx.z of sequence blockIdx.y.
struct Chunk {
  int64_t first;  // its first token row
  int length;     // its tokens (a sequence's last chunk may be short)
  int64_t entry;  // its entry in the workspace
};

inline __device__ bool FindChunk(const StepLayout& step, Chunk* chunk) {
  const int s = blockIdx.y, k = blockIdx.z;
  const int64_t first = step.seq_begin[s] + static_cast<int64_t>(k) * kL;
  const int64_t end = step.seq_begin[s] + step.seq_length[s];
  if (first >= end) return false;  // the sequence has fewer chunks than the longest
  *chunk = {first, static_cast<int>(min(static_cast<int64_t>(kL), end - first)),
            ChunkWorkspace::Entry(step, s, k)};
  return true;
}

// delta[u]: the step size of the chunk's token u (0 past its end); cumulative[u]: delta[0] +
// ... + delta[u], so that the decay from after token u to after token t is
// exp(A * (cumulative[t] - cumulative[u])).
inline __device__ void ChunkStepSizes(const ScanArgs& a, const Chunk& c, int64_t head, float* delta,
                                      float* cumulative) {
  const float bias = a.dt_bias != nullptr ? a.dt_bias[head] : 0.0f;
  for (int u = threadIdx.x; u < kL; u += blockDim.x) {
    delta[u] = u < c.length ? StepSize(a.dt[(c.first + u) * a.lddt + head], bias, a) : 0.0f;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    float sum = 0.0f;
    for (int u = 0; u < kL; ++u) cumulative[u] = sum += delta[u];
  }
  __syncthreads();
}

// The chunk passes with their products on the tensor cores (ssd_chunks_tensor.cu), for scans
// whose args.bf16_chunk_products allow it; SsdChunkEnds and SsdChunkOutputs dispatch to them.
void TensorChunkEnds(const StepLayout& step, const ScanArgs& args, const ChunkWorkspace& chunks,
                     int max_chunks, cudaStream_t stream);
void TensorChunkOutputs(const StepLayout& step, const ScanArgs& args, const ChunkWorkspace& chunks,
                        int max_chunks, cudaStream_t stream);

}  // namespace ssd
}  // namespace ssm::kernels::cuda

#endif  // SSM_KERNELS_CUDA_SSD_COMMON_CUH_
