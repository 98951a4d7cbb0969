#include "engine/tokenizer/bpe_model.h"

#include <queue>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace ssm {

absl::StatusOr<BpeModel> BpeModel::FromJson(const nlohmann::json& spec,
                                            const ByteLevelAlphabet& alphabet) {
  auto invalid = [](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat("tokenizer model: ", what));
  };
  if (!spec.is_object() || spec.value("type", "") != "BPE") {
    return invalid("only \"BPE\" models are supported");
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (spec.contains(key) && !spec[key].is_null() && spec[key] != "") {
      return invalid(absl::StrCat(key, " is not supported"));
    }
  }
  if (spec.value("byte_fallback", false)) return invalid("byte_fallback is not supported");
  if (spec.contains("dropout") && !spec["dropout"].is_null() && spec["dropout"] != 0) {
    return invalid("BPE dropout is not supported");
  }
  if (!spec.contains("vocab") || !spec["vocab"].is_object()) return invalid("missing vocab");
  if (!spec.contains("merges") || !spec["merges"].is_array()) return invalid("missing merges");

  BpeModel model;
  for (const auto& [token, id] : spec["vocab"].items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > (1 << 24)) {
      return invalid(absl::StrCat("vocab id of '", token, "' is not a small non-negative integer"));
    }
    const int32_t i = id.get<int32_t>();
    if (static_cast<size_t>(i) >= model.tokens_.size()) model.tokens_.resize(i + 1);
    model.tokens_[i] = token;
    model.ids_[token] = i;
  }
  for (int b = 0; b < 256; ++b) {
    const auto it = model.ids_.find(alphabet.Encode(static_cast<unsigned char>(b)));
    model.byte_ids_[b] = it == model.ids_.end() ? -1 : it->second;
  }
  int32_t rank = 0;
  for (const auto& merge : spec["merges"]) {
    std::string left, right;
    if (merge.is_string()) {
      const std::string text = merge.get<std::string>();
      const size_t space = text.find(' ');
      if (space == std::string::npos)
        return invalid(absl::StrCat("merge '", text, "' has no space"));
      left = text.substr(0, space);
      right = text.substr(space + 1);
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() &&
               merge[1].is_string()) {
      left = merge[0].get<std::string>();
      right = merge[1].get<std::string>();
    } else {
      return invalid(absl::StrCat("merge ", merge.dump(), " is neither \"a b\" nor [a, b]"));
    }
    const auto l = model.ids_.find(left), r = model.ids_.find(right),
               m = model.ids_.find(left + right);
    if (l == model.ids_.end() || r == model.ids_.end() || m == model.ids_.end()) {
      return invalid(absl::StrCat("merge '", left, " ", right, "' uses tokens not in the vocab"));
    }
    model.merges_.try_emplace(PairKey(l->second, r->second), Merge{rank++, m->second});
  }
  return model;
}

std::optional<int32_t> BpeModel::Find(const std::string& token) const {
  const auto it = ids_.find(token);
  return it == ids_.end() ? std::nullopt : std::optional<int32_t>(it->second);
}

void BpeModel::Encode(std::string_view bytes, std::vector<int32_t>& ids) const {
  const absl::string_view key(bytes.data(), bytes.size());
  {
    absl::ReaderMutexLock lock(&cache_->mutex);
    const auto it = cache_->ids.find(key);
    if (it != cache_->ids.end()) {
      ids.insert(ids.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t first = ids.size();
  ApplyMerges(bytes, ids);
  absl::MutexLock lock(&cache_->mutex);
  if (cache_->ids.size() < Cache::kCapacity) {
    cache_->ids.try_emplace(key, ids.begin() + first, ids.end());
  }
}

void BpeModel::ApplyMerges(std::string_view bytes, std::vector<int32_t>& ids) const {
  // Symbols form a linked list; a merged-away symbol has id -1.
  struct Symbol {
    int32_t id, prev, next;
  };
  std::vector<Symbol> symbols;
  symbols.reserve(bytes.size());
  for (unsigned char b : bytes) {
    if (byte_ids_[b] < 0) continue;  // a byte missing from the vocab is dropped, as HF does
    const int32_t index = static_cast<int32_t>(symbols.size());
    symbols.push_back({byte_ids_[b], index - 1, index + 1});
  }
  if (symbols.empty()) return;
  symbols.back().next = -1;

  // Candidate merges ordered by (rank, position): the lowest rank wins, then the leftmost.
  struct Candidate {
    int32_t rank, pos, merged_id;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
  auto consider = [&](int32_t pos) {
    if (pos < 0 || symbols[pos].next < 0) return;
    const auto it = merges_.find(PairKey(symbols[pos].id, symbols[symbols[pos].next].id));
    if (it != merges_.end()) queue.push({it->second.rank, pos, it->second.merged_id});
  };
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i) consider(i);

  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[top.pos];
    if (left.id < 0 || left.next < 0) continue;  // stale: merged away or now last
    const auto it = merges_.find(PairKey(left.id, symbols[left.next].id));
    if (it == merges_.end() || it->second.merged_id != top.merged_id) continue;  // stale pair
    Symbol& right = symbols[left.next];
    left.id = top.merged_id;
    right.id = -1;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.pos;
    consider(left.prev);
    consider(top.pos);
  }
  for (int32_t i = 0; i >= 0; i = symbols[i].next) ids.push_back(symbols[i].id);
}

}  // namespace ssm
