#ifndef SSM_ENGINE_SAFETENSORS_H_
#define SSM_ENGINE_SAFETENSORS_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/dtype.h"

namespace ssm {

// A tensor stored in a checkpoint: bytes in the file's memory map, plus what they mean.
struct TensorView {
  std::string name;
  std::string file;  // path of the file that holds it, for error messages
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::span<const std::byte> bytes;

  int64_t NumElements() const;
  std::string ShapeString() const;  // e.g. "[768, 1536]"
};

// One .safetensors file, memory-mapped read-only. The header is validated completely on Open,
// so every TensorView it hands out lies inside the file and has as many bytes as its shape says.
class SafetensorsFile {
 public:
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> Open(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  const TensorView* Find(const std::string& name) const;

 private:
  SafetensorsFile(std::string path, void* map, size_t size);
  absl::Status ParseHeader();

  std::string path_;
  void* map_;
  size_t size_;
  std::map<std::string, TensorView> tensors_;
};

}  // namespace ssm

#endif  // SSM_ENGINE_SAFETENSORS_H_
