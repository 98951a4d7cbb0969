#ifndef SSM_ENGINE_TOKENIZER_PRE_TOKENIZER_H_
#define SSM_ENGINE_TOKENIZER_PRE_TOKENIZER_H_

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <memory>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "nlohmann/json_fwd.hpp"

namespace ssm {

// The ByteLevel pre-tokenizer: optionally prepends a space, then splits text into pieces with
// GPT-2's regex (contractions, letter runs, digit runs, punctuation runs, whitespace), matched
// with Unicode properties by PCRE2 (JIT-compiled). Each piece is then BPE-encoded on its own.
class PreTokenizer {
 public:
  // `spec` is the "pre_tokenizer" value of tokenizer.json; only ByteLevel is accepted.
  static absl::StatusOr<PreTokenizer> FromJson(const nlohmann::json& spec);

  bool add_prefix_space() const { return add_prefix_space_; }
  // Calls `piece` for each consecutive piece of `text` (valid UTF-8), covering all of it.
  void Split(std::string_view text, absl::FunctionRef<void(std::string_view)> piece) const;

 private:
  struct CodeDeleter {
    void operator()(pcre2_code* code) const { pcre2_code_free(code); }
  };
  bool add_prefix_space_ = false;
  bool use_regex_ = true;
  std::shared_ptr<pcre2_code> regex_;  // immutable after compilation; shared by copies
};

}  // namespace ssm

#endif  // SSM_ENGINE_TOKENIZER_PRE_TOKENIZER_H_
