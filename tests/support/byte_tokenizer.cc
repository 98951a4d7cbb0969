#include "tests/support/byte_tokenizer.h"

#include <fstream>

#include "engine/tokenizer/byte_level.h"
#include "nlohmann/json.hpp"

namespace ssm::testing {

void WriteByteTokenizer(const std::string& path) {
  const ByteLevelAlphabet alphabet;
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) vocab[alphabet.Encode(static_cast<unsigned char>(b))] = b;
  const nlohmann::json spec = {
      {"added_tokens", nlohmann::json::array()},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}}},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", nlohmann::json::array()}}}};
  std::ofstream(path) << spec.dump();
}

}  // namespace ssm::testing
