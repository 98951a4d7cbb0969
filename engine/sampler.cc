#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "engine/greedy.h"

namespace ssm {

absl::Status Validate(const SamplingParams& p) {
  if (!(p.temperature >= 0.0f) || !std::isfinite(p.temperature)) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampling.temperature must be >= 0, got ", p.temperature));
  }
  if (p.top_k < 0) {
    return absl::InvalidArgumentError(absl::StrCat("sampling.top_k must be >= 0, got ", p.top_k));
  }
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampling.top_p must be in (0, 1], got ", p.top_p));
  }
  if (!(p.min_p >= 0.0f && p.min_p <= 1.0f)) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampling.min_p must be in [0, 1], got ", p.min_p));
  }
  if (!(p.repetition_penalty > 0.0f && std::isfinite(p.repetition_penalty))) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampling.repetition_penalty must be > 0, got ", p.repetition_penalty));
  }
  for (const auto& [name, value] : {std::pair{"presence_penalty", p.presence_penalty},
                                    std::pair{"frequency_penalty", p.frequency_penalty}}) {
    if (!(value >= -2.0f && value <= 2.0f)) {
      return absl::InvalidArgumentError(
          absl::StrCat("sampling.", name, " must be in [-2, 2], got ", value));
    }
  }
  return absl::OkStatus();
}

Sampler::Sampler(const SamplingParams& params, std::span<const int32_t> prompt)
    : params_(params), rng_(params.seed) {
  if (params_.repetition_penalty != 1.0f) seen_.insert(prompt.begin(), prompt.end());
}

bool Sampler::Adjusts() const {
  return params_.repetition_penalty != 1.0f || params_.presence_penalty != 0.0f ||
         params_.frequency_penalty != 0.0f;
}

std::span<const float> Sampler::Adjust(std::span<const float> logits,
                                       std::span<const int32_t> banned) {
  if (!Adjusts() && banned.empty()) return logits;
  adjusted_.assign(logits.begin(), logits.end());
  if (params_.repetition_penalty != 1.0f) {
    for (int32_t id : seen_) {
      float& l = adjusted_[id];
      l = l > 0 ? l / params_.repetition_penalty : l * params_.repetition_penalty;
    }
  }
  for (const auto& [id, count] : generated_counts_) {
    adjusted_[id] -= params_.presence_penalty + params_.frequency_penalty * count;
  }
  for (int32_t id : banned) adjusted_[id] = -std::numeric_limits<float>::infinity();
  return adjusted_;
}

int32_t Sampler::Sample(std::span<const float> logits, std::span<const int32_t> banned) {
  const int32_t token = Draw(Adjust(logits, banned));
  if (Adjusts()) {
    ++generated_counts_[token];
    if (params_.repetition_penalty != 1.0f) seen_.insert(token);
  }
  return token;
}

int32_t Sampler::Draw(std::span<const float> logits) {
  if (params_.temperature == 0.0f) return ArgMax(logits);
  // Candidates within 69 temperatures of the best logit: below that, exp((logit - max) / T) is
  // under 1e-30 and the chance of a double-precision draw landing there is nil.
  const float max_logit = *std::max_element(logits.begin(), logits.end());
  const float floor = max_logit - 69.0f * params_.temperature;
  candidates_.clear();
  for (size_t i = 0; i < logits.size(); ++i) {
    if (logits[i] >= floor) candidates_.emplace_back(logits[i], static_cast<int32_t>(i));
  }
  // Higher first; ties by id, so every selection below is reproducible.
  auto heavier = [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  };
  auto begin = candidates_.begin();
  size_t keep = candidates_.size();
  if (params_.top_k > 0 && static_cast<size_t>(params_.top_k) < keep) {
    keep = params_.top_k;
    // A heap of k passes over the rest with one comparison each: faster than nth_element here.
    std::partial_sort(begin, begin + keep, candidates_.end(), heavier);
  }
  // From here on a candidate's first is its weight exp((logit - max) / T), the best's being 1;
  // the order of weights is that of logits.
  for (size_t i = 0; i < keep; ++i) {
    candidates_[i].first = std::exp((candidates_[i].first - max_logit) / params_.temperature);
  }
  // min_p: weights are relative to the best candidate's, which is 1 (and always stays).
  if (params_.min_p > 0.0f) {
    keep = std::partition(begin, begin + keep,
                          [&](const auto& c) { return c.first >= params_.min_p; }) -
           begin;
  }
  double total = 0.0;
  for (size_t i = 0; i < keep; ++i) total += candidates_[i].first;
  // Nucleus: the smallest set of heaviest candidates whose mass reaches top_p. Only a prefix needs
  // sorting, usually a short one: sort 64, then 8x more until the mass is reached.
  if (params_.top_p > 0.0f && params_.top_p < 1.0f) {
    const double target = params_.top_p * total;
    double mass = 0.0;
    size_t sorted = 0, cut = keep;
    for (size_t want = 64; sorted < keep && cut == keep; want *= 8) {
      const size_t upto = std::min(want, keep);
      std::partial_sort(begin + sorted, begin + upto, begin + keep, heavier);
      for (size_t i = sorted; i < upto; ++i) {
        mass += candidates_[i].first;
        if (mass >= target) {
          cut = i + 1;
          break;
        }
      }
      sorted = upto;
    }
    keep = cut;
    total = 0.0;
    for (size_t i = 0; i < keep; ++i) total += candidates_[i].first;
  }
  const double draw = std::uniform_real_distribution<double>(0.0, total)(rng_);
  double cumulative = 0.0;
  for (size_t i = 0; i < keep; ++i) {
    cumulative += candidates_[i].first;
    if (draw < cumulative) return candidates_[i].second;
  }
  return candidates_[keep - 1].second;
}

}  // namespace ssm
