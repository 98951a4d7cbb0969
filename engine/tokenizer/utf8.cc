#include "engine/tokenizer/utf8.h"

#include <utf8proc.h>

namespace ssm::utf8 {
namespace {

// Length of the well-formed sequence at bytes[pos], 0 if ill-formed, or -1 if the bytes end
// inside a sequence that is well-formed so far. Follows Table 3-7 of the Unicode Standard.
int SequenceLength(std::string_view bytes, size_t pos, int* valid_prefix) {
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(bytes[i]); };
  const uint8_t lead = byte(pos);
  *valid_prefix = 1;
  if (lead < 0x80) return 1;
  int length;
  uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) lo = 0xA0;
    if (lead == 0xED) hi = 0x9F;  // no surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) lo = 0x90;
    if (lead == 0xF4) hi = 0x8F;
  } else {
    return 0;  // a byte that cannot start a sequence: a maximal subpart of its own
  }
  for (int i = 1; i < length; ++i) {
    if (pos + i >= bytes.size()) return -1;
    const uint8_t b = byte(pos + i);
    const bool ok = i == 1 ? (b >= lo && b <= hi) : (b >= 0x80 && b <= 0xBF);
    if (!ok) return 0;
    *valid_prefix = i + 1;
  }
  return length;
}

}  // namespace

std::optional<size_t> FirstInvalidByte(std::string_view text) {
  for (size_t pos = 0; pos < text.size();) {
    int prefix;
    const int length = SequenceLength(text, pos, &prefix);
    if (length <= 0) return pos;
    pos += length;
  }
  return std::nullopt;
}

size_t AppendLossy(std::string_view bytes, bool keep_incomplete_tail, std::string& out) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    int prefix;
    const int length = SequenceLength(bytes, pos, &prefix);
    if (length > 0) {
      out.append(bytes.substr(pos, length));
      pos += length;
    } else if (length < 0 && keep_incomplete_tail) {
      break;
    } else {
      out.append("\xEF\xBF\xBD");  // U+FFFD for the maximal subpart
      pos += prefix;
    }
  }
  return pos;
}

char32_t Next(std::string_view text, size_t& pos) {
  utf8proc_int32_t c;
  const auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(text.data() + pos),
                                  text.size() - pos, &c);
  pos += n > 0 ? n : 1;
  return n > 0 ? static_cast<char32_t>(c) : U'\uFFFD';
}

void Append(char32_t code_point, std::string& out) {
  utf8proc_uint8_t buffer[4];
  const auto n = utf8proc_encode_char(static_cast<utf8proc_int32_t>(code_point), buffer);
  out.append(reinterpret_cast<const char*>(buffer), n);
}

bool IsWhitespace(char32_t c) {
  switch (c) {
    case 0x09:
    case 0x0A:
    case 0x0B:
    case 0x0C:
    case 0x0D:
    case 0x20:
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

bool IsAlphanumeric(char32_t c) {
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
      return true;
    default:
      return false;
  }
}

}  // namespace ssm::utf8
