#include "engine/tokenizer/tokenizer.h"

#include <fstream>

#include "absl/strings/str_cat.h"
#include "engine/tokenizer/utf8.h"
#include "nlohmann/json.hpp"

namespace ssm {
namespace {

absl::Status CheckSupported(const nlohmann::json& spec) {
  for (const char* key : {"decoder", "post_processor"}) {
    if (!spec.contains(key) || spec[key].is_null()) continue;
    if (spec[key].value("type", "") != "ByteLevel") {
      return absl::InvalidArgumentError(
          absl::StrCat(key, " ", spec[key].dump(), " is not supported (only ByteLevel or none)"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<AddedToken>> ParseAddedTokens(const nlohmann::json& spec) {
  std::vector<AddedToken> tokens;
  if (!spec.contains("added_tokens")) return tokens;
  for (const auto& t : spec["added_tokens"]) {
    if (!t.is_object() || !t.contains("id") || !t.contains("content") ||
        !t["id"].is_number_integer() || !t["content"].is_string() || t["id"].get<int64_t>() < 0 ||
        t["id"].get<int64_t>() > (1 << 24)) {
      return absl::InvalidArgumentError(absl::StrCat("added token ", t.dump(), " is malformed"));
    }
    tokens.push_back({.content = t["content"].get<std::string>(),
                      .id = t["id"].get<int32_t>(),
                      .special = t.value("special", false),
                      .single_word = t.value("single_word", false),
                      .lstrip = t.value("lstrip", false),
                      .rstrip = t.value("rstrip", false),
                      .normalized = t.value("normalized", !t.value("special", false))});
  }
  return tokens;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  const nlohmann::json spec = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (spec.is_discarded())
    return absl::InvalidArgumentError(absl::StrCat(path, ": not valid JSON"));
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = FromJson(spec);
  if (!tokenizer.ok()) {
    return absl::Status(tokenizer.status().code(),
                        absl::StrCat(path, ": ", tokenizer.status().message()));
  }
  return tokenizer;
}

// nlohmann::json throws on a field of the wrong type (a string where a bool belongs, say); such a
// file is malformed, and the error says so instead of escaping as an exception.
absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromJson(const nlohmann::json& spec) {
  try {
    return Build(spec);
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("malformed tokenizer.json: ", e.what()));
  }
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::Build(const nlohmann::json& spec) {
  if (!spec.is_object()) return absl::InvalidArgumentError("not a tokenizer.json object");
  static const nlohmann::json kNone;
  auto field = [&](const char* key) -> const nlohmann::json& {
    return spec.contains(key) ? spec[key] : kNone;
  };
  if (absl::Status s = CheckSupported(spec); !s.ok()) return s;
  std::unique_ptr<Tokenizer> t(new Tokenizer());
  absl::StatusOr<Normalizer> normalizer = Normalizer::FromJson(field("normalizer"));
  if (!normalizer.ok()) return normalizer.status();
  t->normalizer_ = *std::move(normalizer);
  absl::StatusOr<PreTokenizer> pre = PreTokenizer::FromJson(field("pre_tokenizer"));
  if (!pre.ok()) return pre.status();
  t->pre_tokenizer_ = *std::move(pre);
  absl::StatusOr<BpeModel> model = BpeModel::FromJson(field("model"), t->alphabet_);
  if (!model.ok()) return model.status();
  t->model_ = *std::move(model);
  absl::StatusOr<std::vector<AddedToken>> added = ParseAddedTokens(spec);
  if (!added.ok()) return added.status();

  // What each id decodes to: vocabulary strings through the byte alphabet (or as they are, if
  // they hold a code point outside it, as HF does), added tokens as their content.
  int32_t size = t->model_.vocab_size();
  for (const AddedToken& a : *added) size = std::max(size, a.id + 1);
  t->token_bytes_.resize(size);
  t->special_.assign(size, false);
  for (int32_t id = 0; id < t->model_.vocab_size(); ++id) {
    const std::string& token = t->model_.token(id);
    t->token_bytes_[id] = t->alphabet_.Decode(token).value_or(token);
  }
  for (const AddedToken& a : *added) {
    t->token_bytes_[a.id] = a.content;
    t->special_[a.id] = a.special;
  }
  t->added_ = AddedVocabulary(*std::move(added), t->normalizer_);
  return t;
}

absl::StatusOr<std::vector<int32_t>> Tokenizer::Encode(std::string_view text) const {
  if (const std::optional<size_t> bad = utf8::FirstInvalidByte(text)) {
    return absl::InvalidArgumentError(
        absl::StrCat("text is not valid UTF-8 (first bad byte at offset ", *bad, ")"));
  }
  std::vector<int32_t> ids;
  std::vector<TextSplit> raw_splits;
  added_.Split(text, /*normalized_pass=*/false, raw_splits);
  std::vector<TextSplit> splits;
  for (const TextSplit& raw : raw_splits) {
    if (raw.id >= 0) {
      ids.push_back(raw.id);
      continue;
    }
    std::string storage;
    const std::string_view normalized = normalizer_.Apply(raw.text, storage);
    splits.clear();
    added_.Split(normalized, /*normalized_pass=*/true, splits);
    for (const TextSplit& split : splits) {
      if (split.id >= 0) {
        ids.push_back(split.id);
      } else {
        EncodeText(split.text, ids);
      }
    }
  }
  return ids;
}

// Pre-tokenizes one span of normalized text and BPE-encodes each piece.
void Tokenizer::EncodeText(std::string_view text, std::vector<int32_t>& ids) const {
  if (text.empty()) return;
  std::string prefixed;
  if (pre_tokenizer_.add_prefix_space() && text.front() != ' ') {
    prefixed = absl::StrCat(" ", absl::string_view(text.data(), text.size()));
    text = prefixed;
  }
  pre_tokenizer_.Split(text, [&](std::string_view piece) { model_.Encode(piece, ids); });
}

std::optional<int32_t> Tokenizer::AddedTokenId(std::string_view content) const {
  for (const AddedToken& token : added_.tokens()) {
    if (token.content == content) return token.id;
  }
  return std::nullopt;
}

std::string_view Tokenizer::TokenBytes(int32_t id) const {
  return id >= 0 && id < vocab_size() ? std::string_view(token_bytes_[id]) : std::string_view();
}

absl::StatusOr<std::string> Tokenizer::Decode(std::span<const int32_t> ids,
                                              bool skip_special_tokens) const {
  IncrementalDecoder decoder(*this, skip_special_tokens);
  std::string text;
  for (int32_t id : ids) {
    absl::StatusOr<std::string> delta = decoder.Add(id);
    if (!delta.ok()) return delta.status();
    text += *delta;
  }
  return text + decoder.Finish();
}

absl::StatusOr<std::string> IncrementalDecoder::Add(int32_t id) {
  if (id < 0 || id >= tokenizer_.vocab_size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "token id ", id, " is outside the vocabulary [0, ", tokenizer_.vocab_size(), ")"));
  }
  if (skip_special_tokens_ && tokenizer_.IsSpecial(id)) return std::string();
  pending_.append(tokenizer_.TokenBytes(id));
  std::string complete;
  const size_t consumed = utf8::AppendLossy(pending_, /*keep_incomplete_tail=*/true, complete);
  pending_.erase(0, consumed);
  return complete;
}

std::string IncrementalDecoder::Finish() {
  std::string rest;
  utf8::AppendLossy(pending_, /*keep_incomplete_tail=*/false, rest);
  pending_.clear();
  return rest;
}

}  // namespace ssm
