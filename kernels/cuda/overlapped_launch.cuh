#ifndef SSM_KERNELS_CUDA_OVERLAPPED_LAUNCH_CUH_
#define SSM_KERNELS_CUDA_OVERLAPPED_LAUNCH_CUH_

// Kernels that start before the previous kernel on their stream has finished (programmatic
// dependent launch, sm_90). A decode step of a small batch is a chain of a few hundred short
// kernels, each bound by the bytes it reads; launched one after another, each one's start-up and
// its first memory round trip sit in the gap after its predecessor. Launched overlapped, a kernel
// issues the loads that do not depend on its predecessor (weights, a slot's state, constants)
// while the predecessor still runs, then waits for it:
//
//   load what the previous kernel does not write
//   WaitForPreviousKernel();   // it has finished, and its writes are visible
//   LetNextKernelStart();      // the next kernel may now run its own first part
//   the rest
//
// Because each kernel lets its successor start only after its own wait, the kernel before the
// previous one has always finished when a kernel's first part runs: that part may read anything
// older than the previous kernel's output, and must not write anything. A kernel launched
// overlapped must wait before it reads its predecessor's output or writes anything; launched
// normally, both calls do nothing. Internal to kernels/cuda.
#include <cuda_runtime.h>

#include <utility>

#include "kernels/cuda/speed_switch.h"

namespace ssm::kernels::cuda {

__device__ __forceinline__ void WaitForPreviousKernel() {
  asm volatile("griddepcontrol.wait;" ::: "memory");
}

__device__ __forceinline__ void LetNextKernelStart() {
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
}

// Whether kernels are launched overlapped: yes (docs/benchmarks.md measured it), unless
// SSM_CUDA_OVERLAP_LAUNCHES=0 asks them to run one after another, as when chasing a suspected
// race; then the wait and the signal above do nothing.
inline bool OverlapLaunches() {
  static const bool overlap = SpeedSwitchOn("SSM_CUDA_OVERLAP_LAUNCHES");
  return overlap;
}

// kernel<<<grid, block, shared_bytes, stream>>>(args...), allowed to start while the previous
// kernel on the stream still runs. Errors surface through cudaGetLastError, as with <<<>>>.
template <typename... Params, typename... Args>
void LaunchOverlapped(void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared_bytes,
                      cudaStream_t stream, Args&&... args) {
  cudaLaunchAttribute overlap{};
  overlap.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  overlap.val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = shared_bytes;
  config.stream = stream;
  config.attrs = &overlap;
  config.numAttrs = OverlapLaunches() ? 1 : 0;
  cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...);
}

}  // namespace ssm::kernels::cuda

#endif  // SSM_KERNELS_CUDA_OVERLAPPED_LAUNCH_CUH_
