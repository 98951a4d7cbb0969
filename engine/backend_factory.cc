#include "engine/backend_factory.h"

#include <dlfcn.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "engine/cpu_backend.h"

namespace ssm {
namespace {

// Loads the CUDA backend library once: from $SSM_CUDA_BACKEND, else where this build put it,
// else by name through the library search path. It stays loaded for the life of the process.
absl::StatusOr<void*> CudaBackendLibrary() {
  static void* library = nullptr;
  static std::string errors;
  if (library == nullptr) {
    std::vector<std::string> candidates;
    if (const char* path = std::getenv("SSM_CUDA_BACKEND")) candidates.push_back(path);
#ifdef SSM_CUDA_BACKEND_PATH
    candidates.push_back(SSM_CUDA_BACKEND_PATH);
#endif
    candidates.push_back("libssm_cuda_backend.so");
    errors.clear();
    for (const std::string& candidate : candidates) {
      library = dlopen(candidate.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (library != nullptr) break;
      absl::StrAppend(&errors, errors.empty() ? "" : "; ", dlerror());
    }
  }
  if (library == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("the CUDA backend library could not be loaded (", errors, ")"));
  }
  return library;
}

// A function of the CUDA backend library (engine/cuda/plugin.cc).
template <typename Function>
absl::StatusOr<Function*> CudaBackendFunction(const char* name) {
  absl::StatusOr<void*> library = CudaBackendLibrary();
  if (!library.ok()) return library.status();
  void* symbol = dlsym(*library, name);
  if (symbol == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("the CUDA backend library has no function ", name));
  }
  return reinterpret_cast<Function*>(symbol);
}

absl::StatusOr<std::unique_ptr<Backend>> MakeDeviceBackend(const Model& model,
                                                           const BackendOptions& options) {
  if (options.device == "cpu") {
    if (options.bf16_state) {
      return absl::InvalidArgumentError("bf16 state storage is a cuda option");
    }
    return std::make_unique<CpuBackend>(model, options.num_slots);
  }
  if (options.device == "cuda") {
    using Make = Backend*(const Model&, const BackendOptions&, absl::Status*);
    absl::StatusOr<Make*> make = CudaBackendFunction<Make>("SsmMakeCudaBackend");
    if (!make.ok()) return make.status();
    absl::Status status;
    std::unique_ptr<Backend> backend((*make)(model, options, &status));
    if (backend == nullptr) return status;
    return backend;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown device \"", options.device, "\" (cpu or cuda)"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Backend>> MakeBackend(const Model& model,
                                                     const BackendOptions& options) {
  if (options.max_step_tokens < 1) {
    return absl::InvalidArgumentError("max_step_tokens must be at least 1");
  }
  absl::StatusOr<std::unique_ptr<Backend>> backend = MakeDeviceBackend(model, options);
  if (backend.ok()) (*backend)->set_max_step_tokens(options.max_step_tokens);
  return backend;
}

bool DeviceAvailable(const std::string& device) {
  if (device == "cpu") return true;
  if (device != "cuda") return false;
  absl::StatusOr<bool (*)()> available = CudaBackendFunction<bool()>("SsmCudaDeviceAvailable");
  return available.ok() && (*available)();
}

}  // namespace ssm
