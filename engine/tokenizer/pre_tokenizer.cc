#include "engine/tokenizer/pre_tokenizer.h"

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace ssm {
namespace {

// GPT-2's split pattern, as HF tokenizers' ByteLevel pre-tokenizer uses it.
constexpr char kGpt2Pattern[] =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

struct MatchDataDeleter {
  void operator()(pcre2_match_data* data) const { pcre2_match_data_free(data); }
};

}  // namespace

absl::StatusOr<PreTokenizer> PreTokenizer::FromJson(const nlohmann::json& spec) {
  if (!spec.is_object() || spec.value("type", "") != "ByteLevel") {
    return absl::InvalidArgumentError(
        absl::StrCat("pre_tokenizer ", spec.dump(), " is not supported (only ByteLevel)"));
  }
  PreTokenizer pre;
  pre.add_prefix_space_ = spec.value("add_prefix_space", false);
  pre.use_regex_ = spec.value("use_regex", true);
  int error = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(kGpt2Pattern), PCRE2_ZERO_TERMINATED,
                    PCRE2_UTF | PCRE2_UCP, &error, &offset, nullptr);
  if (code == nullptr) return absl::InternalError("cannot compile the GPT-2 split pattern");
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter if JIT is absent
  pre.regex_.reset(code, CodeDeleter());
  return pre;
}

void PreTokenizer::Split(std::string_view text,
                         absl::FunctionRef<void(std::string_view)> piece) const {
  if (!use_regex_) {
    if (!text.empty()) piece(text);
    return;
  }
  std::unique_ptr<pcre2_match_data, MatchDataDeleter> match(
      pcre2_match_data_create_from_pattern(regex_.get(), nullptr));
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = 0;
  while (pos < text.size()) {
    // The text was validated once by the caller; PCRE2 need not check it again per match.
    const int rc = pcre2_match(regex_.get(), subject, text.size(), pos, PCRE2_NO_UTF_CHECK,
                               match.get(), nullptr);
    if (rc < 0) break;
    const PCRE2_SIZE* range = pcre2_get_ovector_pointer(match.get());
    if (range[0] > pos) piece(text.substr(pos, range[0] - pos));  // a gap the pattern skipped
    if (range[1] == range[0]) break;  // the pattern cannot match empty; guard anyway
    piece(text.substr(range[0], range[1] - range[0]));
    pos = range[1];
  }
  if (pos < text.size()) piece(text.substr(pos));
}

}  // namespace ssm
