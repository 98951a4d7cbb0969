#ifndef SSM_ENGINE_SAMPLER_H_
#define SSM_ENGINE_SAMPLER_H_

#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "engine/token_draw.h"

namespace ssm {

struct SamplingParams {
  float temperature = 0.0f;  // 0: greedy
  int32_t top_k = 0;         // 0: no limit
  float top_p = 1.0f;        // 1: no limit
  float min_p = 0.0f;        // drop tokens less likely than min_p x the most likely one
  // Repetition (prompt and generated tokens): positive logits divided by it, negative ones
  // multiplied. Presence and frequency (generated tokens): subtracted once, and per occurrence.
  float repetition_penalty = 1.0f;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  uint64_t seed = 0;  // the request's random stream; same seed, same tokens
};

// InvalidArgument naming the field when a parameter is out of range.
absl::Status Validate(const SamplingParams& params);

// Picks the next token from logits: penalties first, then greedy, or softmax at a temperature
// restricted to the top k, to tokens at least min_p as likely as the best, and to the smallest
// set whose probability reaches top_p (token_draw.h defines the draw exactly). Each request owns
// one, so its random stream and its penalties do not depend on what else is in the batch.
class Sampler {
 public:
  // prompt: the tokens the repetition penalty also counts.
  explicit Sampler(const SamplingParams& params, std::span<const int32_t> prompt = {});
  // banned: ids that may not be picked this time (min_tokens holds back the stop ids). The
  // picked token counts towards later penalties.
  int32_t Sample(std::span<const float> logits, std::span<const int32_t> banned = {});
  // Whether Sample always returns the argmax of the logits (temperature 0 and no penalties), so
  // a backend may pick the token itself.
  bool IsPlainGreedy() const { return params_.temperature == 0.0f && !Adjusts(); }
  // The next draw of this request's random stream, with its penalties (Sample takes one per
  // pick too): for a backend that draws on its device. Its penalized list is valid until the
  // next Record. The token it gives goes back through Record.
  TokenDraw NextDraw();
  void Record(int32_t token);

 private:
  bool Adjusts() const;
  // The id's entry in penalized_, added (never generated) if it has none.
  PenalizedToken& Penalized(int32_t id);

  SamplingParams params_;
  std::mt19937_64 rng_;
  // The tokens the penalties touch (the prompt's with a repetition penalty, and every generated
  // one), each once, with how many times it was generated.
  std::vector<PenalizedToken> penalized_;
  absl::flat_hash_map<int32_t, size_t> penalized_index_;
  TokenDrawer drawer_;
};

}  // namespace ssm

#endif  // SSM_ENGINE_SAMPLER_H_
