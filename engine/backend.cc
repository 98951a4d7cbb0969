#include "engine/backend.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "engine/step_pieces.h"

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

namespace {

int64_t TotalTokens(std::span<const SequenceInput> batch) {
  int64_t tokens = 0;
  for (const SequenceInput& seq : batch) tokens += seq.tokens.size();
  return tokens;
}

// Runs `step` (one of the backend's Step functions) over each piece of a step too large for one,
// into a piece-sized output, and moves each finished sequence's `width` results to its row.
template <typename T, typename Step>
absl::Status RunInPieces(std::span<const SequenceInput> batch, int64_t max_tokens, size_t width,
                         std::span<T> out, Step step) {
  for (const StepPiece& piece : SplitStep(batch, max_tokens)) {
    std::vector<T> piece_out(piece.batch.size() * width);
    if (absl::Status status = step(piece, std::span<T>(piece_out)); !status.ok()) {
      return status;
    }
    for (size_t i = 0; i < piece.batch.size(); ++i) {
      if (piece.output_rows[i] < 0) continue;
      std::copy_n(&piece_out[i * width], width, &out[piece.output_rows[i] * width]);
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status Backend::Forward(std::span<const SequenceInput> batch, std::span<float> logits) {
  const int64_t vocab = vocab_size();
  if (absl::Status status = ValidateStep(batch, num_slots(), vocab, logits.size(), vocab);
      !status.ok()) {
    return status;
  }
  if (TotalTokens(batch) <= max_step_tokens_) return StepLogits(batch, logits);
  return RunInPieces<float>(batch, max_step_tokens_, vocab, logits,
                            [this](const StepPiece& piece, std::span<float> out) {
                              return StepLogits(piece.batch, out);
                            });
}

absl::Status Backend::ForwardGreedy(std::span<const SequenceInput> batch, std::span<int32_t> next) {
  if (absl::Status status = ValidateStep(batch, num_slots(), vocab_size(), next.size(), 1);
      !status.ok()) {
    return status;
  }
  if (TotalTokens(batch) <= max_step_tokens_) return StepGreedy(batch, next);
  return RunInPieces<int32_t>(batch, max_step_tokens_, 1, next,
                              [this](const StepPiece& piece, std::span<int32_t> out) {
                                return StepGreedy(piece.batch, out);
                              });
}

absl::Status Backend::ForwardSampled(std::span<const SequenceInput> batch,
                                     std::span<const TokenDraw> draws, std::span<int32_t> next) {
  if (absl::Status status = ValidateStep(batch, num_slots(), vocab_size(), next.size(), 1);
      !status.ok()) {
    return status;
  }
  if (draws.size() < batch.size()) {
    return absl::InvalidArgumentError("a sampled step needs one draw per sequence");
  }
  if (TotalTokens(batch) <= max_step_tokens_) return StepSampled(batch, draws, next);
  std::vector<TokenDraw> piece_draws;
  return RunInPieces<int32_t>(
      batch, max_step_tokens_, 1, next, [&](const StepPiece& piece, std::span<int32_t> out) {
        piece_draws.clear();  // a sequence that goes on in a later piece draws nothing here
        for (int row : piece.output_rows)
          piece_draws.push_back(row >= 0 ? draws[row] : TokenDraw{});
        return StepSampled(piece.batch, piece_draws, out);
      });
}

absl::Status Backend::StepSampled(std::span<const SequenceInput> batch,
                                  std::span<const TokenDraw> draws, std::span<int32_t> next) {
  const int64_t vocab = vocab_size();
  sampled_logits_.resize(batch.size() * vocab);
  if (absl::Status status = StepLogits(batch, sampled_logits_); !status.ok()) return status;
#pragma omp parallel for schedule(dynamic)
  for (size_t i = 0; i < batch.size(); ++i) {
    thread_local TokenDrawer drawer;
    next[i] = drawer.Draw(std::span<const float>(&sampled_logits_[i * vocab], vocab), draws[i]);
  }
  return absl::OkStatus();
}

}  // namespace ssm
