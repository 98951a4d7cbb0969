#include "engine/greedy.h"

#include <algorithm>

namespace ssm {

absl::StatusOr<GreedyResult> GenerateGreedy(Backend& backend, int slot,
                                            std::span<const int32_t> prompt, int max_new_tokens,
                                            int64_t prefill_chunk) {
  if (prompt.empty()) return absl::InvalidArgumentError("the prompt has no tokens");
  GreedyResult result;
  std::vector<float> logits(backend.vocab_size());
  for (size_t begin = 0; begin < prompt.size(); begin += prefill_chunk) {
    const SequenceInput chunk{
        slot, prompt.subspan(begin, std::min<size_t>(prefill_chunk, prompt.size() - begin))};
    if (absl::Status status = backend.Forward({&chunk, 1}, logits); !status.ok()) return status;
  }
  result.prompt_logits = logits;
  int32_t next = ArgMax(logits);
  for (int i = 0; i < max_new_tokens; ++i) {
    result.generated.push_back(next);
    if (i + 1 == max_new_tokens) break;
    const SequenceInput step{slot, {&result.generated.back(), 1}};
    if (absl::Status status = backend.ForwardGreedy({&step, 1}, {&next, 1}); !status.ok()) {
      return status;
    }
  }
  return result;
}

}  // namespace ssm
