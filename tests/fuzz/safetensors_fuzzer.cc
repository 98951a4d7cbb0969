// libFuzzer target: opening a .safetensors file (engine/safetensors.h). Two kinds of input: raw
// bytes, and a file whose JSON header is built from the input (dtypes, shapes and data offsets
// of any size, overlapping or past the end), which reaches the checks behind the JSON parser.
// Checks, besides "no crash, no sanitizer report": every tensor a file that opens hands out lies
// inside the file and has the bytes its dtype and shape say (all of them are read).
// tools/run_fuzzers.sh builds and runs it.
#include <fuzzer/FuzzedDataProvider.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>

#include "engine/safetensors.h"
#include "nlohmann/json.hpp"
#include "tests/fuzz/check.h"

using ssm::fuzz::Check;

namespace {

std::string BuiltFile(FuzzedDataProvider& in) {
  nlohmann::json header = nlohmann::json::object();
  const char* dtypes[] = {"F32", "F16", "BF16", "I64", "F64", ""};
  for (int n = in.ConsumeIntegralInRange<int>(0, 4); n > 0; --n) {
    nlohmann::json shape = nlohmann::json::array();
    for (int d = in.ConsumeIntegralInRange<int>(0, 4); d > 0; --d) {
      shape.push_back(in.ConsumeBool() ? in.ConsumeIntegralInRange<int64_t>(0, 8)
                                       : in.ConsumeIntegral<int64_t>());
    }
    const uint64_t begin = in.ConsumeIntegralInRange<uint64_t>(0, 64);
    const uint64_t end = in.ConsumeBool() ? begin + in.ConsumeIntegralInRange<uint64_t>(0, 64)
                                          : in.ConsumeIntegral<uint64_t>();
    header["t" + std::to_string(n)] = {
        {"dtype", in.PickValueInArray(dtypes)}, {"shape", shape}, {"data_offsets", {begin, end}}};
  }
  if (in.ConsumeBool()) header["__metadata__"] = {{"format", "pt"}};
  const std::string json = header.dump();
  const uint64_t length = in.ConsumeBool() ? json.size() : in.ConsumeIntegral<uint64_t>();
  std::string file(reinterpret_cast<const char*>(&length), 8);  // little-endian
  file += json;
  file += in.ConsumeRemainingBytesAsString();
  return file;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  const std::string bytes = in.ConsumeBool() ? BuiltFile(in) : in.ConsumeRemainingBytesAsString();
  static const std::string path = "/tmp/ssm_safetensors_fuzz_" + std::to_string(getpid());
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), bytes.size());
  }
  absl::StatusOr<std::unique_ptr<ssm::SafetensorsFile>> file = ssm::SafetensorsFile::Open(path);
  if (file.ok()) {
    for (const auto& [name, view] : (*file)->tensors()) {
      Check(view.bytes.size() ==
            static_cast<size_t>(view.NumElements()) * ssm::DTypeSize(view.dtype));
      unsigned sum = 0;
      for (std::byte b : view.bytes) sum += static_cast<unsigned>(b);  // every byte readable
      Check(sum <= 255 * view.bytes.size());
    }
  }
  return 0;
}
