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
    return absl::InvalidArgumentError(absl::StrCat(
        "normalizer \"", type, "\" is not supported (NFC, NFD, NFKC, NFKD, Sequence)"));
  }
  return absl::OkStatus();
}

bool IsAscii(std::string_view text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

// Normalizes `text` in one form, touching only the stretches that contain non-ASCII. Splitting
// before an ASCII character is safe: no normalization form composes an ASCII character with what
// precedes it, and none reorders across it. So each stretch runs from the ASCII character before
// a non-ASCII run (which may compose with the run, as e + U+0301) to the next ASCII character.
void NormalizeForm(std::string_view text, int options, std::string& out) {
  out.clear();
  size_t pos = 0;
  while (pos < text.size()) {
    size_t run = pos;
    while (run < text.size() && static_cast<unsigned char>(text[run]) < 0x80) ++run;
    if (run == text.size()) {
      out.append(text.substr(pos));
      break;
    }
    const size_t begin = run > pos ? run - 1 : run;  // include the ASCII character before
    out.append(text.substr(pos, begin - pos));
    size_t end = run;
    while (end < text.size() && static_cast<unsigned char>(text[end]) >= 0x80) ++end;
    utf8proc_uint8_t* mapped = nullptr;
    const utf8proc_ssize_t length =
        utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data() + begin), end - begin,
                     &mapped, static_cast<utf8proc_option_t>(options));
    if (length >= 0) {
      out.append(reinterpret_cast<const char*>(mapped), length);
    } else {
      out.append(text.substr(begin, end - begin));  // only on invalid UTF-8, ruled out by callers
    }
    std::free(mapped);
    pos = end;
  }
}

}  // namespace

absl::StatusOr<Normalizer> Normalizer::FromJson(const nlohmann::json& spec) {
  Normalizer normalizer;
  if (spec.is_null()) return normalizer;
  if (!spec.is_object()) return absl::InvalidArgumentError("normalizer is not an object");
  if (absl::Status s = AddForm(spec, normalizer.forms_); !s.ok()) return s;
  return normalizer;
}

std::string_view Normalizer::Apply(std::string_view text, std::string& storage) const {
  if (forms_.empty() || IsAscii(text)) return text;
  std::string scratch;
  std::string_view current = text;
  for (int options : forms_) {
    NormalizeForm(current, options, scratch);
    storage.swap(scratch);
    current = storage;
  }
  return current;
}

}  // namespace ssm
