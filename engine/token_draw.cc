#include "engine/token_draw.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace ssm {
namespace {

// NaN (from an infinite or NaN logit) weighs nothing.
uint64_t Units(float weight) {
  return weight > 0.0f ? static_cast<uint64_t>(weight * kDrawWeightUnits) : 0;
}

}  // namespace

int32_t ArgMax(std::span<const float> values) {
  return static_cast<int32_t>(std::max_element(values.begin(), values.end()) - values.begin());
}

std::span<const float> TokenDrawer::Adjusted(std::span<const float> logits, const TokenDraw& draw) {
  if (draw.penalized.empty() && draw.banned.empty()) return logits;
  adjusted_.assign(logits.begin(), logits.end());
  for (const PenalizedToken& token : draw.penalized) {
    float& l = adjusted_[token.id];
    l = l > 0 ? l / draw.repetition_penalty : l * draw.repetition_penalty;
    if (token.generated > 0) {
      l -= draw.presence_penalty + draw.frequency_penalty * token.generated;
    }
  }
  for (int32_t id : draw.banned) adjusted_[id] = -std::numeric_limits<float>::infinity();
  return adjusted_;
}

int32_t TokenDrawer::Draw(std::span<const float> raw_logits, const TokenDraw& draw) {
  const std::span<const float> logits = Adjusted(raw_logits, draw);
  if (draw.temperature == 0.0f) return ArgMax(logits);
  // Candidates within 69 temperatures of the best logit: below that a weight is under 1e-30,
  // zero in 2^-40 units, so leaving those tokens out changes nothing.
  const float max_logit = *std::max_element(logits.begin(), logits.end());
  const float floor = max_logit - 69.0f * draw.temperature;
  candidates_.clear();
  for (size_t i = 0; i < logits.size(); ++i) {
    if (logits[i] >= floor) candidates_.emplace_back(logits[i], static_cast<int32_t>(i));
  }
  // top_k: a threshold on the logit, so ties at the k-th largest all stay. The k-th largest
  // comes from a heap of the k largest so far, whose least most candidates fail to beat: about
  // one comparison each.
  if (draw.top_k > 0 && static_cast<size_t>(draw.top_k) < candidates_.size()) {
    const auto greater = std::greater<float>();
    heaviest_.clear();
    for (size_t i = 0; i < static_cast<size_t>(draw.top_k); ++i) {
      heaviest_.push_back(candidates_[i].first);
    }
    std::make_heap(heaviest_.begin(), heaviest_.end(), greater);
    for (size_t i = draw.top_k; i < candidates_.size(); ++i) {
      if (candidates_[i].first <= heaviest_.front()) continue;
      std::pop_heap(heaviest_.begin(), heaviest_.end(), greater);
      heaviest_.back() = candidates_[i].first;
      std::push_heap(heaviest_.begin(), heaviest_.end(), greater);
    }
    const float kth = heaviest_.front();
    std::erase_if(candidates_, [&](const auto& c) { return c.first < kth; });
  }
  // From here on a candidate's first is its weight, in id order still.
  for (auto& c : candidates_) c.first = std::exp((c.first - max_logit) / draw.temperature);
  if (draw.min_p > 0.0f) {
    std::erase_if(candidates_, [&](const auto& c) { return c.first < draw.min_p; });
  }
  uint64_t total = 0;
  for (const auto& c : candidates_) total += Units(c.first);
  // top_p: the weight of the lightest token the nucleus needs is the threshold. Only a prefix
  // of the weights needs sorting, usually a short one: sort 64, then 8x more until it is found.
  if (draw.top_p < 1.0f) {
    const uint64_t target =
        static_cast<uint64_t>(std::ceil(static_cast<double>(draw.top_p) * total));
    heaviest_.clear();
    for (const auto& c : candidates_) heaviest_.push_back(c.first);
    uint64_t mass = 0;
    float threshold = 0.0f;
    bool found = false;
    for (size_t sorted = 0, want = 64; !found && sorted < heaviest_.size(); want *= 8) {
      const size_t upto = std::min(want, heaviest_.size());
      std::partial_sort(heaviest_.begin() + sorted, heaviest_.begin() + upto, heaviest_.end(),
                        std::greater<float>());
      for (; sorted < upto && !found; ++sorted) {
        mass += Units(heaviest_[sorted]);
        threshold = heaviest_[sorted];
        found = mass >= target;
      }
    }
    std::erase_if(candidates_, [&](const auto& c) { return c.first < threshold; });
    total = 0;
    for (const auto& c : candidates_) total += Units(c.first);
  }
  // The best token has weight 1 and survives every cut, so the total is positive unless the
  // logits are broken (all -inf, or NaN or +inf among them): then the argmax, never a crash.
  if (total == 0) return ArgMax(logits);
  const uint64_t point = std::min(static_cast<uint64_t>(draw.uniform * total), total - 1);
  uint64_t running = 0;
  for (const auto& [weight, id] : candidates_) {
    running += Units(weight);
    if (running > point) return id;
  }
  return candidates_.back().second;
}

}  // namespace ssm
