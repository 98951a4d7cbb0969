// The entry point through which the engine loads this backend (engine/backend_factory.cc). The
// CUDA backend lives in its own shared library, loaded only when a cuda device is asked for:
// cuBLAS reserves ~100 KB of static thread-local storage in every thread of a process that
// links it, more than the small stacks of civetweb's threads (the metrics server) can hold, and
// a CPU-only run should not need the CUDA libraries at all.
#include "engine/backend_factory.h"
#include "engine/cuda/cuda_backend.h"

extern "C" bool SsmCudaDeviceAvailable() { return ssm::CudaBackend::DeviceAvailable(); }

extern "C" ssm::Backend* SsmMakeCudaBackend(const ssm::Model& model,
                                            const ssm::BackendOptions& options,
                                            absl::Status* status) {
  absl::StatusOr<std::unique_ptr<ssm::CudaBackend>> backend = ssm::CudaBackend::Create(
      model, options.num_slots,
      {.bf16_matrices = options.bf16_matrices, .bf16_state = options.bf16_state});
  if (!backend.ok()) {
    *status = backend.status();
    return nullptr;
  }
  return backend->release();
}
