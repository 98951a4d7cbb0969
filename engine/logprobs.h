#ifndef SSM_ENGINE_LOGPROBS_H_
#define SSM_ENGINE_LOGPROBS_H_

#include <cstdint>
#include <span>
#include <vector>

namespace ssm {

struct TopLogprob {
  int32_t token = 0;
  float logprob = 0;
};

// A generated token's log-probability and the most likely tokens at its step.
struct TokenLogprobs {
  float logprob = 0;
  std::vector<TopLogprob> top;  // most likely first; ties by lower id
};

constexpr int kMaxTopLogprobs = 20;

// Log-probabilities under the model's own distribution, the softmax of the raw logits: before
// penalties, temperature and truncation, so they say what the model thinks, not how the
// sampler chose. top_n in [0, kMaxTopLogprobs].
TokenLogprobs ComputeLogprobs(std::span<const float> logits, int32_t chosen, int top_n);

}  // namespace ssm

#endif  // SSM_ENGINE_LOGPROBS_H_
