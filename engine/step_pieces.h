#ifndef SSM_ENGINE_STEP_PIECES_H_
#define SSM_ENGINE_STEP_PIECES_H_

#include <cstdint>
#include <span>
#include <vector>

#include "engine/backend.h"

namespace ssm {

// Part of a forward step. Entry i of batch fills row output_rows[i] of the whole step's outputs
// (logits or ids), or none (-1) when its sequence goes on in a later piece.
struct StepPiece {
  std::vector<SequenceInput> batch;
  std::vector<int> output_rows;
};

// Cuts a step into pieces of at most max_tokens tokens each, to be run in order. Sequences are
// packed as they come; one longer than what is left of a piece continues in the next, so every
// slot sees its tokens in order and ends where the whole step would leave it. A step that fits
// is one piece.
std::vector<StepPiece> SplitStep(std::span<const SequenceInput> batch, int64_t max_tokens);

}  // namespace ssm

#endif  // SSM_ENGINE_STEP_PIECES_H_
