#ifndef SSM_ENGINE_TOKENIZER_ADDED_VOCABULARY_H_
#define SSM_ENGINE_TOKENIZER_ADDED_VOCABULARY_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/tokenizer/normalizer.h"

namespace ssm {

// An "added_tokens" entry of tokenizer.json.
struct AddedToken {
  std::string content;
  int32_t id = 0;
  bool special = false;
  bool single_word = false;  // only matches when not inside a word
  bool lstrip = false;       // swallows the whitespace before it
  bool rstrip = false;       // swallows the whitespace after it
  bool normalized = false;   // matched in normalized text (else in the raw input)
};

// A span of text: either an added token (id >= 0) or text for the normalizer and the model.
struct TextSplit {
  std::string_view text;
  int32_t id = -1;
};

// Finds added tokens in text the way HF tokenizers does: leftmost-longest matching, then the
// single_word / lstrip / rstrip rules. Tokens with normalized=false are matched in the raw input
// first; the rest are matched, in their normalized form, in each normalized remaining span.
class AddedVocabulary {
 public:
  AddedVocabulary() = default;
  AddedVocabulary(std::vector<AddedToken> tokens, const Normalizer& normalizer);

  // Splits `text` by the raw (normalized=false) or the normalized tokens. Spans are views of
  // `text`; empty text spans are left out.
  void Split(std::string_view text, bool normalized_pass, std::vector<TextSplit>& out) const;
  const std::vector<AddedToken>& tokens() const { return tokens_; }

 private:
  struct Pattern {
    std::string text;
    int index;  // into tokens_
  };
  struct PassPatterns {
    std::array<std::vector<Pattern>, 256> by_first_byte;
  };

  std::vector<AddedToken> tokens_;
  PassPatterns raw_;
  PassPatterns normalized_;
};

}  // namespace ssm

#endif  // SSM_ENGINE_TOKENIZER_ADDED_VOCABULARY_H_
