#ifndef SSM_ENGINE_TOKENIZER_TOKENIZER_H_
#define SSM_ENGINE_TOKENIZER_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/tokenizer/added_vocabulary.h"
#include "engine/tokenizer/bpe_model.h"
#include "engine/tokenizer/byte_level.h"
#include "engine/tokenizer/normalizer.h"
#include "engine/tokenizer/pre_tokenizer.h"

namespace ssm {

// A byte-level BPE tokenizer loaded from a Hugging Face tokenizer.json (the GPT-2 and
// GPT-NeoX-20B family), agreeing exactly with HF tokenizers. Anything outside that family is
// refused at load time rather than mis-tokenized. Immutable after loading, so one instance
// serves any number of threads.
class Tokenizer {
 public:
  static absl::StatusOr<std::unique_ptr<Tokenizer>> Load(const std::string& path);
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromJson(const nlohmann::json& spec);

  // Text to ids, special tokens in the text included. Text that is not well-formed UTF-8 is
  // refused (InvalidArgument naming the byte offset); no replacement is guessed.
  absl::StatusOr<std::vector<int32_t>> Encode(std::string_view text) const;

  // Ids to text. Bytes that do not form UTF-8 (a sequence cut in the middle of a character)
  // become U+FFFD, as in HF's decode. Unknown ids are refused.
  absl::StatusOr<std::string> Decode(std::span<const int32_t> ids,
                                     bool skip_special_tokens = false) const;

  int32_t vocab_size() const { return static_cast<int32_t>(token_bytes_.size()); }
  bool IsSpecial(int32_t id) const { return id >= 0 && id < vocab_size() && special_[id]; }
  // The id of an added token with this content (e.g. "<|endoftext|>"), if there is one.
  std::optional<int32_t> AddedTokenId(std::string_view content) const;
  // The bytes a token stands for; empty for unknown ids.
  std::string_view TokenBytes(int32_t id) const;

 private:
  Tokenizer() = default;
  static absl::StatusOr<std::unique_ptr<Tokenizer>> Build(const nlohmann::json& spec);
  void EncodeText(std::string_view text, std::vector<int32_t>& ids) const;

  ByteLevelAlphabet alphabet_;
  Normalizer normalizer_;
  PreTokenizer pre_tokenizer_;
  BpeModel model_;
  AddedVocabulary added_;
  std::vector<std::string> token_bytes_;  // by id: what decoding emits
  std::vector<bool> special_;
};

// Turns a stream of ids into text deltas that never split a UTF-8 character: each call returns
// the text that became complete. The deltas joined, plus Finish(), equal Tokenizer::Decode of
// all the ids.
class IncrementalDecoder {
 public:
  explicit IncrementalDecoder(const Tokenizer& tokenizer, bool skip_special_tokens = false)
      : tokenizer_(tokenizer), skip_special_tokens_(skip_special_tokens) {}

  absl::StatusOr<std::string> Add(int32_t id);
  // What is still held back (an incomplete character), as U+FFFD; call once at the end.
  std::string Finish();

 private:
  const Tokenizer& tokenizer_;
  bool skip_special_tokens_;
  std::string pending_;
};

}  // namespace ssm

#endif  // SSM_ENGINE_TOKENIZER_TOKENIZER_H_
