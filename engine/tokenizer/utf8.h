#ifndef SSM_ENGINE_TOKENIZER_UTF8_H_
#define SSM_ENGINE_TOKENIZER_UTF8_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ssm::utf8 {

// Byte offset of the first byte that is not part of well-formed UTF-8, or nullopt if all is.
std::optional<size_t> FirstInvalidByte(std::string_view text);

// Appends `bytes` to `out` as UTF-8, replacing each maximal ill-formed subpart with U+FFFD, as
// Rust's String::from_utf8_lossy and Python's errors="replace" do. When `keep_incomplete_tail`
// is set, a truncated but so far valid sequence at the very end is not replaced but left
// unconsumed; the return value is the number of bytes consumed.
size_t AppendLossy(std::string_view bytes, bool keep_incomplete_tail, std::string& out);

// Decodes the code point starting at text[pos] (text must be valid UTF-8) and advances pos.
char32_t Next(std::string_view text, size_t& pos);
void Append(char32_t code_point, std::string& out);

// Rust's char::is_whitespace (the Unicode White_Space property).
bool IsWhitespace(char32_t c);
// Rust's char::is_alphanumeric, approximated by the general categories L* and N*.
bool IsAlphanumeric(char32_t c);

}  // namespace ssm::utf8

#endif  // SSM_ENGINE_TOKENIZER_UTF8_H_
