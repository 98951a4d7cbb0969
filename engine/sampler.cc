#include "engine/sampler.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"

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
  if (params_.repetition_penalty != 1.0f) {
    for (int32_t id : prompt) Penalized(id);
  }
}

bool Sampler::Adjusts() const {
  return params_.repetition_penalty != 1.0f || params_.presence_penalty != 0.0f ||
         params_.frequency_penalty != 0.0f;
}

PenalizedToken& Sampler::Penalized(int32_t id) {
  const auto [it, added] = penalized_index_.try_emplace(id, penalized_.size());
  if (added) penalized_.push_back({.id = id});
  return penalized_[it->second];
}

int32_t Sampler::Sample(std::span<const float> logits, std::span<const int32_t> banned) {
  TokenDraw draw = NextDraw();
  draw.banned = banned;
  const int32_t token = drawer_.Draw(logits, draw);
  Record(token);
  return token;
}

void Sampler::Record(int32_t token) {
  if (Adjusts()) ++Penalized(token).generated;
}

TokenDraw Sampler::NextDraw() {
  TokenDraw draw{.temperature = params_.temperature,
                 .top_k = params_.top_k,
                 .top_p = params_.top_p,
                 .min_p = params_.min_p,
                 .repetition_penalty = params_.repetition_penalty,
                 .presence_penalty = params_.presence_penalty,
                 .frequency_penalty = params_.frequency_penalty,
                 .penalized = penalized_};
  if (draw.temperature > 0.0f) draw.uniform = std::uniform_real_distribution<double>()(rng_);
  return draw;
}

}  // namespace ssm
