#ifndef SSM_ENGINE_TOKENIZER_BYTE_LEVEL_H_
#define SSM_ENGINE_TOKENIZER_BYTE_LEVEL_H_

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace ssm {

// GPT-2's byte-level alphabet: every byte gets a printable code point (printable Latin-1 bytes
// map to themselves, the rest to U+0100 and up), so that byte strings can be BPE vocabulary
// entries. Vocabulary strings are written in this alphabet; "Ġ" (U+0120) is the space byte.
class ByteLevelAlphabet {
 public:
  ByteLevelAlphabet();
  // The UTF-8 encoding of the code point that stands for `byte`.
  const std::string& Encode(unsigned char byte) const { return encoded_[byte]; }
  // The bytes a vocabulary string stands for; nullopt if it has a code point outside the alphabet.
  std::optional<std::string> Decode(std::string_view token) const;

 private:
  std::array<std::string, 256> encoded_;
  std::array<int, 324> byte_of_code_point_;  // -1 where not in the alphabet; max code point 323
};

}  // namespace ssm

#endif  // SSM_ENGINE_TOKENIZER_BYTE_LEVEL_H_
