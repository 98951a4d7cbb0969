#include "engine/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"

namespace ssm {
namespace {

// Real headers are a few hundred KiB at most; a larger length means a corrupt or foreign file.
constexpr uint64_t kMaxHeaderBytes = 100 << 20;

absl::Status Corrupt(const std::string& path, const std::string& what) {
  return absl::DataLossError(absl::StrCat(path, ": not a valid safetensors file: ", what));
}

}  // namespace

int64_t TensorView::NumElements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string TensorView::ShapeString() const {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return absl::InternalError(absl::StrCat(path, ": cannot stat: ", std::strerror(errno)));
  }
  const size_t size = static_cast<size_t>(st.st_size);
  void* map = nullptr;
  if (size > 0) {
    map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
      ::close(fd);
      return absl::InternalError(absl::StrCat(path, ": cannot mmap: ", std::strerror(errno)));
    }
  }
  ::close(fd);  // the mapping keeps the file alive
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile(path, map, size));
  if (absl::Status status = file->ParseHeader(); !status.ok()) return status;
  return file;
}

SafetensorsFile::SafetensorsFile(std::string path, void* map, size_t size)
    : path_(std::move(path)), map_(map), size_(size) {}

SafetensorsFile::~SafetensorsFile() {
  if (map_ != nullptr) ::munmap(map_, size_);
}

const TensorView* SafetensorsFile::Find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

// Layout: u64 little-endian header length N, N bytes of JSON, then the data section.
// The JSON maps tensor names to {"dtype", "shape", "data_offsets": [begin, end]} relative to the
// data section, plus an optional "__metadata__" object.
absl::Status SafetensorsFile::ParseHeader() {
  const auto* base = static_cast<const std::byte*>(map_);
  if (size_ < 8) return Corrupt(path_, absl::StrCat("file has ", size_, " bytes (truncated?)"));
  uint64_t header_len = 0;
  std::memcpy(&header_len, base, 8);
  if (header_len > kMaxHeaderBytes || header_len > size_ - 8) {
    return Corrupt(path_, absl::StrCat("header length ", header_len, " exceeds the file size ",
                                       size_, " (truncated?)"));
  }
  const std::string_view header_text(reinterpret_cast<const char*>(base + 8), header_len);
  const nlohmann::json header =
      nlohmann::json::parse(header_text, nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded() || !header.is_object()) {
    return Corrupt(path_, "header is not a JSON object");
  }
  const std::byte* data = base + 8 + header_len;
  const uint64_t data_size = size_ - 8 - header_len;

  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") continue;
    const std::string where = absl::StrCat("tensor '", name, "'");
    if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") ||
        !entry.contains("data_offsets")) {
      return Corrupt(path_, absl::StrCat(where, " lacks dtype, shape or data_offsets"));
    }
    const auto& dtype_json = entry["dtype"];
    if (!dtype_json.is_string())
      return Corrupt(path_, absl::StrCat(where, ": dtype is not a string"));
    const std::optional<DType> dtype = ParseDType(dtype_json.get<std::string>());
    if (!dtype) {
      return absl::InvalidArgumentError(absl::StrCat(path_, ": ", where, " has dtype ",
                                                     dtype_json.get<std::string>(),
                                                     "; supported dtypes are F32, F16 and BF16"));
    }
    TensorView view;
    view.name = name;
    view.file = path_;
    view.dtype = *dtype;
    const auto& shape = entry["shape"];
    if (!shape.is_array()) return Corrupt(path_, absl::StrCat(where, ": shape is not an array"));
    uint64_t elements = 1;
    for (const auto& dim : shape) {
      if (!dim.is_number_unsigned() || dim.get<uint64_t>() > (uint64_t{1} << 40)) {
        return Corrupt(path_, absl::StrCat(where, ": bad shape ", shape.dump()));
      }
      view.shape.push_back(dim.get<int64_t>());
      if (elements > std::numeric_limits<uint64_t>::max() / (dim.get<uint64_t>() + 1)) {
        return Corrupt(path_, absl::StrCat(where, ": shape ", shape.dump(), " overflows"));
      }
      elements *= dim.get<uint64_t>();
    }
    const auto& offsets = entry["data_offsets"];
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
        !offsets[1].is_number_unsigned()) {
      return Corrupt(path_, absl::StrCat(where, ": data_offsets is not [begin, end]"));
    }
    const uint64_t begin = offsets[0].get<uint64_t>();
    const uint64_t end = offsets[1].get<uint64_t>();
    if (begin > end || end > data_size) {
      return Corrupt(path_,
                     absl::StrCat(where, ": data_offsets [", begin, ", ", end, "] lie outside the ",
                                  data_size, "-byte data section (truncated?)"));
    }
    if (end - begin != elements * DTypeSize(*dtype)) {
      return Corrupt(path_, absl::StrCat(where, ": ", end - begin, " bytes for shape ",
                                         shape.dump(), " of ", DTypeName(*dtype)));
    }
    view.bytes = std::span<const std::byte>(data + begin, end - begin);
    tensors_.emplace(name, std::move(view));
  }
  return absl::OkStatus();
}

}  // namespace ssm
