#include "engine/tokenizer/normalizer.h"

#include <utf8proc.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace ssm {
namespace {

absl::Status AddForm(const nlohmann::json& spec, std::vector<int>& forms) {
  const std::string type = spec.value("type", "");
  if (type == "Sequence") {
    for (const auto& inner : spec.value("normalizers", nlohmann::json::array())) {
      if (absl::Status s = AddForm(inner, forms); !s.ok()) return s;
    }
    return absl::OkStatus();
  }
  const int stable = UTF8PROC_STABLE;
  if (type == "NFC") {
    forms.push_back(stable | UTF8PROC_COMPOSE);
  } else if (type == "NFD") {
    forms.push_back(stable | UTF8PROC_DECOMPOSE);
  } else if (type == "NFKC") {
    forms.push_back(stable | UTF8PROC_COMPOSE | UTF8PROC_COMPAT);
  } else if (type == "NFKD") {
    forms.push_back(stable | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("normalizer \"", type, "\" is not supported (NFC, NFD, NFKC, NFKD, Sequence)"));
  }
  return absl::OkStatus();
}

bool IsAscii(std::string_view text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<Normalizer> Normalizer::FromJson(const nlohmann::json& spec) {
  Normalizer normalizer;
  if (spec.is_null()) return normalizer;
  if (!spec.is_object()) return absl::InvalidArgumentError("normalizer is not an object");
  if (absl::Status s = AddForm(spec, normalizer.forms_); !s.ok()) return s;
  return normalizer;
}

std::string Normalizer::Apply(std::string_view text) const {
  // ASCII is invariant under every normalization form: skip the work for the common case.
  if (forms_.empty() || IsAscii(text)) return std::string(text);
  std::string current(text);
  for (int options : forms_) {
    utf8proc_uint8_t* mapped = nullptr;
    const utf8proc_ssize_t length =
        utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(current.data()), current.size(),
                     &mapped, static_cast<utf8proc_option_t>(options));
    if (length < 0) return current;  // only on invalid UTF-8, which callers rule out
    current.assign(reinterpret_cast<const char*>(mapped), length);
    std::free(mapped);
  }
  return current;
}

}  // namespace ssm
