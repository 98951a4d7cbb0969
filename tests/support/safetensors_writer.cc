#include "tests/support/safetensors_writer.h"

#include <cstring>
#include <fstream>
#include <sstream>

#include "nlohmann/json.hpp"

namespace ssm::testing {

TensorToWrite CopyOf(const TensorView& view) {
  return {view.name, DTypeName(view.dtype), view.shape,
          std::vector<std::byte>(view.bytes.begin(), view.bytes.end())};
}

std::string SafetensorsImage(const std::vector<TensorToWrite>& tensors) {
  nlohmann::json header = nlohmann::json::object();
  std::string data;
  for (const TensorToWrite& t : tensors) {
    header[t.name] = {{"dtype", t.dtype},
                      {"shape", t.shape},
                      {"data_offsets", {data.size(), data.size() + t.bytes.size()}}};
    data.append(reinterpret_cast<const char*>(t.bytes.data()), t.bytes.size());
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keep the data section 8-byte aligned
  const uint64_t length = text.size();
  std::string image(8, '\0');
  std::memcpy(image.data(), &length, 8);
  return image + text + data;
}

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream(path, std::ios::binary) << contents;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace ssm::testing
