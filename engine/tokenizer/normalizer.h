#ifndef SSM_ENGINE_TOKENIZER_NORMALIZER_H_
#define SSM_ENGINE_TOKENIZER_NORMALIZER_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json_fwd.hpp"

namespace ssm {

// A tokenizer.json normalizer of the Unicode-normalization family: NFC, NFD, NFKC, NFKD, or a
// Sequence of those (or none). Done by utf8proc.
class Normalizer {
 public:
  // `spec` is the "normalizer" value of tokenizer.json (null for none).
  static absl::StatusOr<Normalizer> FromJson(const nlohmann::json& spec);

  bool empty() const { return forms_.empty(); }
  // The normalized form of `text` (valid UTF-8): `text` itself when normalization leaves it as
  // it is (always for ASCII), else a view of `storage`, which receives the new text.
  std::string_view Apply(std::string_view text, std::string& storage) const;

 private:
  std::vector<int> forms_;  // utf8proc option sets, applied in order
};

}  // namespace ssm

#endif  // SSM_ENGINE_TOKENIZER_NORMALIZER_H_
