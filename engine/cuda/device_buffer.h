#ifndef SSM_ENGINE_CUDA_DEVICE_BUFFER_H_
#define SSM_ENGINE_CUDA_DEVICE_BUFFER_H_

#include <cuda_runtime.h>

#include <cstddef>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace ssm {

// Bytes of device (or pinned host) memory, freed when the buffer goes.
class DeviceBuffer {
 public:
  enum class Kind { kDevice, kPinnedHost };

  DeviceBuffer() = default;
  static absl::StatusOr<DeviceBuffer> Allocate(size_t bytes, Kind kind = Kind::kDevice) {
    DeviceBuffer buffer;
    buffer.kind_ = kind;
    const cudaError_t error = kind == Kind::kDevice ? cudaMalloc(&buffer.data_, bytes)
                                                    : cudaMallocHost(&buffer.data_, bytes);
    if (error != cudaSuccess) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "cannot allocate ", bytes, " bytes of ", kind == Kind::kDevice ? "GPU" : "pinned host",
          " memory: ", cudaGetErrorString(error)));
    }
    buffer.bytes_ = bytes;
    return buffer;
  }

  DeviceBuffer(DeviceBuffer&& other) noexcept { *this = std::move(other); }
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(bytes_, other.bytes_);
    std::swap(kind_, other.kind_);
    return *this;
  }
  ~DeviceBuffer() {
    if (data_ == nullptr) return;
    if (kind_ == Kind::kDevice) {
      cudaFree(data_);
    } else {
      cudaFreeHost(data_);
    }
  }

  template <typename T = void>
  T* get() const {
    return static_cast<T*>(data_);
  }
  size_t bytes() const { return bytes_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
  Kind kind_ = Kind::kDevice;
};

}  // namespace ssm

#endif  // SSM_ENGINE_CUDA_DEVICE_BUFFER_H_
