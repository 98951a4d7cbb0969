#ifndef SSM_TESTS_SUPPORT_SAFETENSORS_WRITER_H_
#define SSM_TESTS_SUPPORT_SAFETENSORS_WRITER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "engine/safetensors.h"

namespace ssm::testing {

// A tensor to write: its header entry and raw bytes.
struct TensorToWrite {
  std::string name;
  std::string dtype;  // safetensors spelling, deliberately unchecked so tests can write bad ones
  std::vector<int64_t> shape;
  std::vector<std::byte> bytes;
};

// Copies a loaded tensor for rewriting.
TensorToWrite CopyOf(const TensorView& view);

// The complete file image: 8-byte header length, JSON header, data.
std::string SafetensorsImage(const std::vector<TensorToWrite>& tensors);
void WriteFile(const std::string& path, const std::string& contents);
std::string ReadFile(const std::string& path);

}  // namespace ssm::testing

#endif  // SSM_TESTS_SUPPORT_SAFETENSORS_WRITER_H_
