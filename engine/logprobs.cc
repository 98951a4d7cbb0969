#include "engine/logprobs.h"

#include <algorithm>
#include <cmath>

namespace ssm {

TokenLogprobs ComputeLogprobs(std::span<const float> logits, int32_t chosen, int top_n) {
  const float max = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (float l : logits) sum += std::exp(static_cast<double>(l - max));
  const float log_normalizer = max + static_cast<float>(std::log(sum));

  TokenLogprobs result{.logprob = logits[chosen] - log_normalizer};
  std::vector<int32_t> ids(logits.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(i);
  const size_t n = std::min<size_t>(top_n, ids.size());
  std::partial_sort(ids.begin(), ids.begin() + n, ids.end(), [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  for (size_t i = 0; i < n; ++i) result.top.push_back({ids[i], logits[ids[i]] - log_normalizer});
  return result;
}

}  // namespace ssm
