#include "engine/tokenizer/added_vocabulary.h"

#include <algorithm>

#include "engine/tokenizer/utf8.h"

namespace ssm {
namespace {

char32_t LastCodePoint(std::string_view text) {
  size_t start = text.size() - 1;
  while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
  return utf8::Next(text, start);
}

// Byte offset where the whitespace run that ends `text` begins.
size_t WhitespaceRunStart(std::string_view text) {
  size_t end = text.size();
  while (end > 0) {
    size_t start = end - 1;
    while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
    size_t pos = start;
    if (!utf8::IsWhitespace(utf8::Next(text, pos))) break;
    end = start;
  }
  return end;
}

// Length of the whitespace run that starts `text`.
size_t WhitespaceRunLength(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t next = pos;
    if (!utf8::IsWhitespace(utf8::Next(text, next))) break;
    pos = next;
  }
  return pos;
}

}  // namespace

AddedVocabulary::AddedVocabulary(std::vector<AddedToken> tokens, const Normalizer& normalizer)
    : tokens_(std::move(tokens)) {
  for (int i = 0; i < static_cast<int>(tokens_.size()); ++i) {
    const AddedToken& t = tokens_[i];
    if (t.content.empty()) continue;
    PassPatterns& pass = t.normalized ? normalized_ : raw_;
    std::string storage;
    std::string text(t.normalized ? normalizer.Apply(t.content, storage) : t.content);
    pass.by_first_byte[static_cast<unsigned char>(text[0])].push_back({std::move(text), i});
  }
  // Longest first, so the first hit at a position is the longest match there.
  for (PassPatterns* pass : {&raw_, &normalized_}) {
    for (auto& bucket : pass->by_first_byte) {
      std::stable_sort(bucket.begin(), bucket.end(), [](const Pattern& a, const Pattern& b) {
        return a.text.size() > b.text.size();
      });
    }
  }
}

void AddedVocabulary::Split(std::string_view text, bool normalized_pass,
                            std::vector<TextSplit>& out) const {
  const PassPatterns& pass = normalized_pass ? normalized_ : raw_;
  size_t emitted = 0;  // end of the last span pushed
  size_t pos = 0;
  while (pos < text.size()) {
    const Pattern* hit = nullptr;
    for (const Pattern& p : pass.by_first_byte[static_cast<unsigned char>(text[pos])]) {
      // Check the second byte first: most candidates fail there (a space before a word, for
      // the run-of-spaces tokens), and a full comparison per candidate is the hot spot.
      const size_t n = p.text.size();
      if (n > 1 && (pos + 1 >= text.size() || text[pos + 1] != p.text[1])) continue;
      if (text.substr(pos, n) == p.text) {
        hit = &p;
        break;
      }
    }
    if (hit == nullptr) {
      ++pos;
      continue;
    }
    const AddedToken& token = tokens_[hit->index];
    size_t start = pos, stop = pos + hit->text.size();
    pos = stop;  // matching resumes after this match, whether or not it is used
    if (token.single_word) {
      const bool word_before =
          start > 0 && utf8::IsAlphanumeric(LastCodePoint(text.substr(0, start)));
      size_t after = stop;
      const bool word_after = stop < text.size() && utf8::IsAlphanumeric(utf8::Next(text, after));
      if (word_before || word_after) continue;
    }
    if (token.lstrip) start = std::max(WhitespaceRunStart(text.substr(0, start)), emitted);
    if (token.rstrip) stop += WhitespaceRunLength(text.substr(stop));
    if (start > emitted) out.push_back({text.substr(emitted, start - emitted), -1});
    out.push_back({text.substr(start, stop - start), token.id});
    emitted = stop;
    pos = std::max(pos, stop);
  }
  if (emitted < text.size()) out.push_back({text.substr(emitted), -1});
}

}  // namespace ssm
