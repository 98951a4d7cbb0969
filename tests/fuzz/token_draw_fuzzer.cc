// libFuzzer target: the token draw (engine/token_draw.h) on arbitrary rows of logits, NaN and
// infinities included, and arbitrary parameters, penalties and bans. Checks, besides "no crash,
// no sanitizer report": the token is inside the row, and it is not banned when some token that
// is not banned has a finite logit and every logit is a number of ordinary size (so that the
// penalties cannot overflow it). tools/run_fuzzers.sh builds and runs it.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "engine/token_draw.h"
#include "tests/fuzz/check.h"

using ssm::fuzz::Check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  const int vocab = in.ConsumeIntegralInRange<int>(1, 64);
  std::vector<float> logits(vocab);
  constexpr float kSpecial[] = {
      std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
      -std::numeric_limits<float>::infinity(), std::numeric_limits<float>::denorm_min(), 0.0f};
  for (float& l : logits) {
    // Ordinary values, any finite value, or a special one (NaN, infinities, a denormal).
    switch (in.ConsumeIntegralInRange<int>(0, 3)) {
      case 0:
        l = in.ConsumeFloatingPoint<float>();
        break;
      case 1:
        l = in.PickValueInArray(kSpecial);
        break;
      default:
        l = in.ConsumeFloatingPointInRange<float>(-30.0f, 30.0f);
    }
  }
  ssm::TokenDraw draw;
  draw.temperature = in.ConsumeBool() ? 0.0f : in.ConsumeFloatingPointInRange<float>(1e-6f, 100.0f);
  draw.top_k = in.ConsumeIntegralInRange<int32_t>(0, vocab + 2);
  draw.top_p = in.ConsumeFloatingPointInRange<float>(1e-6f, 1.0f);
  draw.min_p = in.ConsumeFloatingPointInRange<float>(0.0f, 1.0f);
  draw.uniform = in.ConsumeFloatingPointInRange<double>(0.0, 0.999999);
  draw.repetition_penalty = in.ConsumeFloatingPointInRange<float>(0.01f, 10.0f);
  draw.presence_penalty = in.ConsumeFloatingPointInRange<float>(-2.0f, 2.0f);
  draw.frequency_penalty = in.ConsumeFloatingPointInRange<float>(-2.0f, 2.0f);
  std::vector<ssm::PenalizedToken> penalized;
  std::vector<bool> listed(vocab, false);
  for (int n = in.ConsumeIntegralInRange<int>(0, vocab); n > 0; --n) {
    const int32_t id = in.ConsumeIntegralInRange<int32_t>(0, vocab - 1);
    if (listed[id]) continue;  // each id at most once
    listed[id] = true;
    penalized.push_back({.id = id, .generated = in.ConsumeIntegralInRange<int32_t>(0, 1000)});
  }
  std::vector<int32_t> banned;
  for (int n = in.ConsumeIntegralInRange<int>(0, 4); n > 0; --n) {
    banned.push_back(in.ConsumeIntegralInRange<int32_t>(0, vocab - 1));
  }
  draw.penalized = penalized;
  draw.banned = banned;

  ssm::TokenDrawer drawer;
  const int32_t id = drawer.Draw(logits, draw);
  Check(id >= 0 && id < vocab);
  const bool ordinary = std::all_of(logits.begin(), logits.end(), [](float l) {
    return std::isinf(l) || std::fabs(l) < 1e30f;  // NaN fails both
  });
  bool finite_allowed = false;
  for (int32_t i = 0; i < vocab; ++i) {
    const bool is_banned = std::find(banned.begin(), banned.end(), i) != banned.end();
    finite_allowed |= !is_banned && std::isfinite(logits[i]);
  }
  if (finite_allowed && ordinary) {
    Check(std::find(banned.begin(), banned.end(), id) == banned.end());
  }
  return 0;
}
