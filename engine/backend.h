#ifndef SSM_ENGINE_BACKEND_H_
#define SSM_ENGINE_BACKEND_H_

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "engine/token_draw.h"

namespace ssm {

// One sequence of a forward step: the state slot it continues and the tokens it feeds.
// A decode step feeds one token; a prefill chunk feeds many.
struct SequenceInput {
  int32_t slot = 0;
  std::span<const int32_t> tokens;
};

// The compute interface the engine drives. A backend owns the weights (in its own layout) and a
// pool of fixed-size state slots; each session's recurrent state lives in one slot, so a batch
// is just a list of slot indices and needs no gather or scatter of states.
//
// State format (ReadSlot/WriteSlot): for each layer, the conv window [(d_conv - 1) x channels]
// followed by the SSM state, all fp32. Backends keep their own internal layout.
class Backend {
 public:
  // Activation workspaces grow with the tokens of a step; steps larger than this run in pieces.
  static constexpr int64_t kDefaultMaxStepTokens = 8192;

  virtual ~Backend() = default;

  // Advances every sequence's slot by its tokens, in one step, and writes the logits that follow
  // each sequence's last token to logits[i * vocab_size ...]. Sequences must use distinct slots.
  // A step of more than max_step_tokens() tokens runs as several (step_pieces.h) with the same
  // result, so memory does not grow with a prompt's length.
  absl::Status Forward(std::span<const SequenceInput> batch, std::span<float> logits);

  // The same step, returning only each sequence's greedy token (the argmax of its logits, the
  // first on ties) in next[i]. A backend that keeps logits elsewhere (a GPU) picks the tokens
  // there and sends back ids instead of batch x vocab floats.
  absl::Status ForwardGreedy(std::span<const SequenceInput> batch, std::span<int32_t> next);

  // The same step, drawing each sequence's next token from its logits as draws[i] says
  // (token_draw.h: the draw is a fixed function of the logits and draws[i].uniform, so every
  // backend picks the same token, up to rounding at the edge between two). A backend that
  // keeps logits elsewhere (a GPU) draws there and sends back ids only.
  absl::Status ForwardSampled(std::span<const SequenceInput> batch,
                              std::span<const TokenDraw> draws, std::span<int32_t> next);

  int64_t max_step_tokens() const { return max_step_tokens_; }
  void set_max_step_tokens(int64_t tokens) { max_step_tokens_ = tokens; }

  // Bytes of accelerator memory in use on the backend's device (by any process, as the driver
  // counts them); 0 for a backend on the host.
  virtual int64_t DeviceMemoryInUse() const { return 0; }

  virtual int num_slots() const = 0;
  virtual int64_t vocab_size() const = 0;
  virtual int64_t slot_size() const = 0;  // floats per slot
  // Bytes a slot takes where the backend keeps it (less than 4 x slot_size() if it stores the
  // state narrower).
  virtual int64_t slot_bytes() const { return slot_size() * sizeof(float); }

  virtual void ClearSlot(int slot) = 0;  // the state of an empty context
  virtual void CopySlot(int from, int to) = 0;
  virtual std::vector<float> ReadSlot(int slot) const = 0;
  // Fails unless state holds exactly slot_size() floats.
  virtual absl::Status WriteSlot(int slot, std::span<const float> state) = 0;

 protected:
  // Forward, ForwardGreedy and ForwardSampled for a step already checked by ValidateStep and of at
  // most max_step_tokens() tokens.
  virtual absl::Status StepLogits(std::span<const SequenceInput> batch,
                                  std::span<float> logits) = 0;
  virtual absl::Status StepGreedy(std::span<const SequenceInput> batch,
                                  std::span<int32_t> next) = 0;
  // ForwardSampled's step. By default: StepLogits, then each draw on the host.
  virtual absl::Status StepSampled(std::span<const SequenceInput> batch,
                                   std::span<const TokenDraw> draws, std::span<int32_t> next);

 private:
  int64_t max_step_tokens_ = kDefaultMaxStepTokens;
  std::vector<float> sampled_logits_;  // the default StepSampled's
};

// Checks a step against the Forward contract: slots inside the pool and distinct, no empty
// sequence, token ids inside the vocabulary, and room for `outputs_per_sequence` results per
// sequence (vocab_size logits, or one id) in an output of `outputs` elements.
absl::Status ValidateStep(std::span<const SequenceInput> batch, int num_slots, int64_t vocab_size,
                          size_t outputs, size_t outputs_per_sequence);

}  // namespace ssm

#endif  // SSM_ENGINE_BACKEND_H_
