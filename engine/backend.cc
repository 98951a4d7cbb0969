#include "engine/backend.h"

#include <set>

#include "absl/strings/str_cat.h"

namespace ssm {

absl::Status ValidateStep(std::span<const SequenceInput> batch, int num_slots, int64_t vocab_size,
                          size_t outputs, size_t outputs_per_sequence) {
  if (outputs < batch.size() * outputs_per_sequence) {
    return absl::InvalidArgumentError("the output buffer is smaller than the batch needs");
  }
  std::set<int32_t> slots;
  for (const SequenceInput& seq : batch) {
    if (seq.slot < 0 || seq.slot >= num_slots) {
      return absl::InvalidArgumentError(
          absl::StrCat("slot ", seq.slot, " is outside the pool of ", num_slots));
    }
    if (!slots.insert(seq.slot).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("slot ", seq.slot, " appears twice in a step"));
    }
    if (seq.tokens.empty()) return absl::InvalidArgumentError("a sequence has no tokens");
    for (int32_t token : seq.tokens) {
      if (token < 0 || token >= vocab_size) {
        return absl::InvalidArgumentError(
            absl::StrCat("token id ", token, " is outside the vocabulary [0, ", vocab_size, ")"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace ssm
