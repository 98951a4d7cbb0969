#ifndef SSM_KERNELS_CUDA_L2_PREFETCH_H_
#define SSM_KERNELS_CUDA_L2_PREFETCH_H_

#include <cstdint>

namespace ssm::kernels::cuda {

// Weights that a kernel asks the L2 cache to fetch while it runs, for a product that comes
// after it. A decode step of a small batch is a chain of kernels in which only the big products
// are bound by memory; during the short ones between them (x_proj, the scan) the memory would
// otherwise sit idle, and the next product would then pay for all its bytes itself. A request
// only reads, so a kernel may make it before waiting for its predecessor. Up to two regions
// (out_proj's weights and the head of the next layer's in_proj); each must start on a 16-byte
// boundary, and a region's bytes are rounded down to a multiple of 16.
struct L2Prefetch {
  static constexpr int kMaxRegions = 2;
  const void* data[kMaxRegions] = {};
  int64_t bytes[kMaxRegions] = {};
};

}  // namespace ssm::kernels::cuda

#endif  // SSM_KERNELS_CUDA_L2_PREFETCH_H_
