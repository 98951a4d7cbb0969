#include "engine/step_pieces.h"

#include <algorithm>

namespace ssm {

std::vector<StepPiece> SplitStep(std::span<const SequenceInput> batch, int64_t max_tokens) {
  std::vector<StepPiece> pieces(1);
  int64_t room = max_tokens;
  for (size_t row = 0; row < batch.size(); ++row) {
    const std::span<const int32_t> tokens = batch[row].tokens;
    for (size_t fed = 0; fed < tokens.size();) {
      if (room == 0) {
        pieces.emplace_back();
        room = max_tokens;
      }
      const size_t take = std::min<size_t>(tokens.size() - fed, room);
      pieces.back().batch.push_back({batch[row].slot, tokens.subspan(fed, take)});
      fed += take;
      room -= take;
      pieces.back().output_rows.push_back(fed == tokens.size() ? static_cast<int>(row) : -1);
    }
  }
  return pieces;
}

}  // namespace ssm
