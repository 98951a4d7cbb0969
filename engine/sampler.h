#ifndef SSM_ENGINE_SAMPLER_H_
#define SSM_ENGINE_SAMPLER_H_

#include <cstdint>
#include <random>
#include <span>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace ssm {

struct SamplingParams {
  float temperature = 0.0f;  // 0: greedy
  int32_t top_k = 0;         // 0: no limit
  float top_p = 1.0f;        // 1: no limit
  uint64_t seed = 0;         // the request's random stream; same seed, same tokens
};

// InvalidArgument naming the field when a parameter is out of range.
absl::Status Validate(const SamplingParams& params);

// Picks the next token from logits: greedy, or softmax at a temperature restricted to the top k
// and to the smallest set whose probability reaches top_p. Each request owns one, so its random
// stream does not depend on what else is in the batch.
class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);
  int32_t Sample(std::span<const float> logits);

 private:
  SamplingParams params_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, int32_t>> candidates_;  // scratch, reused across calls
};

}  // namespace ssm

#endif  // SSM_ENGINE_SAMPLER_H_
