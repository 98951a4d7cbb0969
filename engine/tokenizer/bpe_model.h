#ifndef SSM_ENGINE_TOKENIZER_BPE_MODEL_H_
#define SSM_ENGINE_TOKENIZER_BPE_MODEL_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "engine/tokenizer/byte_level.h"
#include "nlohmann/json_fwd.hpp"

namespace ssm {

// A byte-level BPE model: a vocabulary of byte strings and merge rules ranked by priority.
class BpeModel {
 public:
  // `spec` is the "model" value of tokenizer.json; merges may be "a b" strings or [a, b] pairs.
  static absl::StatusOr<BpeModel> FromJson(const nlohmann::json& spec,
                                           const ByteLevelAlphabet& alphabet);

  // Appends the ids of one pre-token (raw bytes): start from one symbol per byte and apply the
  // lowest-ranked applicable merge (leftmost on ties) until none applies, as HF tokenizers does.
  // Results are cached (thread-safe) since real text repeats its words.
  void Encode(std::string_view bytes, std::vector<int32_t>& ids) const;

  int32_t vocab_size() const { return static_cast<int32_t>(tokens_.size()); }
  const std::string& token(int32_t id) const { return tokens_[id]; }  // in the byte alphabet
  std::optional<int32_t> Find(const std::string& token) const;

 private:
  struct Merge {
    int32_t rank;
    int32_t merged_id;
  };
  // Pieces seen before and their ids; bounded, filled until full (as HF's BPE cache).
  struct Cache {
    static constexpr size_t kCapacity = 200000;
    absl::Mutex mutex;
    absl::flat_hash_map<std::string, std::vector<int32_t>> ids ABSL_GUARDED_BY(mutex);
  };

  void ApplyMerges(std::string_view bytes, std::vector<int32_t>& ids) const;
  static uint64_t PairKey(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(left) << 32) | static_cast<uint32_t>(right);
  }

  absl::flat_hash_map<std::string, int32_t> ids_;
  std::vector<std::string> tokens_;
  absl::flat_hash_map<uint64_t, Merge> merges_;
  std::array<int32_t, 256> byte_ids_;  // the single-byte token of each byte; -1 if none
  std::unique_ptr<Cache> cache_ = std::make_unique<Cache>();
};

}  // namespace ssm

#endif  // SSM_ENGINE_TOKENIZER_BPE_MODEL_H_
