#ifndef SSM_KERNELS_CUDA_SPEED_SWITCH_H_
#define SSM_KERNELS_CUDA_SPEED_SWITCH_H_

#include <cstdlib>

namespace ssm::kernels::cuda {

// Whether a measured speed-up is on: yes, unless the environment variable `name` starts with
// '0'. Each switch keeps the slower path it replaced reachable, for chasing a suspected bug in
// the faster one and for measuring what it still brings (tools/gpu_checks.sh tests both).
inline bool SpeedSwitchOn(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr || value[0] != '0';
}

}  // namespace ssm::kernels::cuda

#endif  // SSM_KERNELS_CUDA_SPEED_SWITCH_H_
