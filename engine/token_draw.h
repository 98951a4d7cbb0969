#ifndef SSM_ENGINE_TOKEN_DRAW_H_
#define SSM_ENGINE_TOKEN_DRAW_H_

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace ssm {

// Index of the largest value; the first one on ties, like torch.argmax.
int32_t ArgMax(std::span<const float> values);

// A token the penalties touch: one seen before (in the prompt, when there is a repetition
// penalty, or generated), and how many times it was generated.
struct PenalizedToken {
  int32_t id = 0;
  int32_t generated = 0;
};

// How one token is drawn from a row of logits: everything random about it is `uniform`, which
// the request's own seeded stream supplies on the host. The rest is a fixed function of the
// logits, so a backend can draw on its device, where the logits are, and get the token the host
// would (TokenDrawer below is the definition its kernel follows).
struct TokenDraw {
  float temperature = 0.0f;  // 0: the argmax of the adjusted logits
  int32_t top_k = 0;         // 0: no limit
  float top_p = 1.0f;        // 1: no limit
  float min_p = 0.0f;
  double uniform = 0.0;  // in [0, 1)
  // Adjustments made to the logits first, in this order: every penalized token's logit divided
  // by repetition_penalty if positive, else multiplied by it; then, for those generated, minus
  // presence_penalty + frequency_penalty x times generated; then the banned ids to -inf. The
  // spans must outlive the draw (a backend copies them before its Forward returns).
  float repetition_penalty = 1.0f;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  std::span<const PenalizedToken> penalized = {};  // each id at most once
  std::span<const int32_t> banned = {};
};

// Token weights are exp((logit - max) / temperature) in float, held as integers in units of
// 2^-40 (rounded down), so sums do not depend on the order they are taken in: a GPU adding them
// in parallel gets the host's totals exactly. Weights below 2^-40 count as zero.
inline constexpr double kDrawWeightUnits = 1099511627776.0;  // 2^40

// The draw, defined as: keep the tokens whose logit is at least the top_k-th largest (ties at
// that logit all stay); of those, the ones whose weight is at least min_p (the best's weight is
// 1); of those, when top_p < 1, the heaviest ones whose weights reach top_p of their total (all
// tokens as heavy as the lightest one needed stay). Then walk the kept tokens in id order and
// return the first whose running total of weights exceeds uniform x the kept total.
class TokenDrawer {
 public:
  int32_t Draw(std::span<const float> logits, const TokenDraw& draw);

 private:
  // The logits after the draw's penalties and bans (in adjusted_), or as they are without any.
  std::span<const float> Adjusted(std::span<const float> logits, const TokenDraw& draw);

  std::vector<float> adjusted_;                        // scratch
  std::vector<std::pair<float, int32_t>> candidates_;  // scratch, reused across calls
  std::vector<float> heaviest_;                        // scratch for top_p
};

}  // namespace ssm

#endif  // SSM_ENGINE_TOKEN_DRAW_H_
