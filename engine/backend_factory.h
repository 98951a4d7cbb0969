#ifndef SSM_ENGINE_BACKEND_FACTORY_H_
#define SSM_ENGINE_BACKEND_FACTORY_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engine/backend.h"
#include "engine/model.h"

namespace ssm {

struct BackendOptions {
  std::string device = "cpu";  // "cpu" or "cuda"
  int num_slots = 1;
  // cuda: keep every weight matrix in bf16, whatever the checkpoint stores.
  bool bf16_matrices = false;
  // cuda: store each slot's SSM state in bf16 (math stays fp32).
  bool bf16_state = false;
  // Steps of more tokens than this run in pieces, which bounds the activation memory.
  int64_t max_step_tokens = Backend::kDefaultMaxStepTokens;
};

// The backend the options name, over `model` (which must outlive it). Fails with a clear
// message for an unknown device, or for cuda in a build without CUDA or on a machine without a
// GPU.
absl::StatusOr<std::unique_ptr<Backend>> MakeBackend(const Model& model,
                                                     const BackendOptions& options);

// Whether MakeBackend could make a backend for `device` here: for cuda, whether the CUDA
// backend library loads and sees a GPU.
bool DeviceAvailable(const std::string& device);

}  // namespace ssm

#endif  // SSM_ENGINE_BACKEND_FACTORY_H_
