#include "engine/tokenizer/byte_level.h"

#include "engine/tokenizer/utf8.h"

namespace ssm {

ByteLevelAlphabet::ByteLevelAlphabet() {
  byte_of_code_point_.fill(-1);
  char32_t next_unprintable = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    const char32_t code_point = printable ? static_cast<char32_t>(b) : next_unprintable++;
    utf8::Append(code_point, encoded_[b]);
    byte_of_code_point_[code_point] = b;
  }
}

std::optional<std::string> ByteLevelAlphabet::Decode(std::string_view token) const {
  std::string bytes;
  for (size_t pos = 0; pos < token.size();) {
    const char32_t c = utf8::Next(token, pos);
    if (c >= byte_of_code_point_.size() || byte_of_code_point_[c] < 0) return std::nullopt;
    bytes.push_back(static_cast<char>(byte_of_code_point_[c]));
  }
  return bytes;
}

}  // namespace ssm
