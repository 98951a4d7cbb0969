#ifndef SSM_ENGINE_GREEDY_H_
#define SSM_ENGINE_GREEDY_H_

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/backend.h"
#include "engine/token_draw.h"  // ArgMax

namespace ssm {

struct GreedyResult {
  std::vector<float> prompt_logits;  // the distribution after the last prompt token
  std::vector<int32_t> generated;
};

// Feeds `prompt` into `slot` in chunks of at most `prefill_chunk` tokens, then decodes
// `max_new_tokens` tokens greedily, one step each. Afterwards the slot holds the prompt and every
// generated token but the last, which was sampled and not fed.
absl::StatusOr<GreedyResult> GenerateGreedy(Backend& backend, int slot,
                                            std::span<const int32_t> prompt, int max_new_tokens,
                                            int64_t prefill_chunk = 512);

}  // namespace ssm

#endif  // SSM_ENGINE_GREEDY_H_
