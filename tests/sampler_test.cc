#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <set>
#include <vector>

#include "gtest/gtest.h"

namespace ssm {
namespace {

const std::vector<float> kLogits = {1.0f, 3.0f, 2.0f, -1.0f, 2.5f};

TEST(SamplerTest, ZeroTemperatureIsGreedy) {
  Sampler sampler({.temperature = 0.0f, .seed = 1});
  for (int i = 0; i < 10; ++i) EXPECT_EQ(sampler.Sample(kLogits), 1);
}

TEST(SamplerTest, TopKOfOneAndTinyTopPAreGreedy) {
  Sampler top_k({.temperature = 2.0f, .top_k = 1, .seed = 3});
  Sampler top_p({.temperature = 2.0f, .top_p = 0.01f, .seed = 3});
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(top_k.Sample(kLogits), 1);
    EXPECT_EQ(top_p.Sample(kLogits), 1);
  }
}

// With a fixed seed the frequencies follow softmax(logits / T) (20k draws: within 0.015).
TEST(SamplerTest, FrequenciesFollowTheSoftmax) {
  Sampler sampler({.temperature = 1.5f, .seed = 7});
  std::map<int32_t, int> counts;
  const int draws = 20000;
  for (int i = 0; i < draws; ++i) ++counts[sampler.Sample(kLogits)];
  double total = 0.0;
  for (float l : kLogits) total += std::exp(l / 1.5);
  for (size_t i = 0; i < kLogits.size(); ++i) {
    EXPECT_NEAR(counts[i] / double(draws), std::exp(kLogits[i] / 1.5) / total, 0.015) << i;
  }
}

TEST(SamplerTest, TopKExcludesTheRest) {
  Sampler sampler({.temperature = 5.0f, .top_k = 2, .seed = 11});
  for (int i = 0; i < 500; ++i) {
    const int32_t token = sampler.Sample(kLogits);
    EXPECT_TRUE(token == 1 || token == 4) << token;
  }
}

TEST(SamplerTest, SameSeedSameTokens) {
  Sampler a({.temperature = 1.0f, .seed = 99}), b({.temperature = 1.0f, .seed = 99});
  for (int i = 0; i < 100; ++i) EXPECT_EQ(a.Sample(kLogits), b.Sample(kLogits));
}

TEST(SamplerTest, BannedIdsAreNeverPicked) {
  Sampler greedy({.temperature = 0.0f});
  const std::vector<int32_t> banned = {1};
  EXPECT_EQ(greedy.Sample(kLogits, banned), 4);  // the best but one
  Sampler hot({.temperature = 10.0f, .seed = 5});
  for (int i = 0; i < 300; ++i) EXPECT_NE(hot.Sample(kLogits, banned), 1);
}

TEST(SamplerTest, RepetitionPenaltyCountsThePromptAndTheOutput) {
  // Token 1 (3.0) in the prompt: 3.0 / 2 = 1.5 < 2.5, so greedy picks 4; then 4 is penalized
  // too (2.5 / 2 = 1.25) and 2 (2.0) wins.
  const std::vector<int32_t> prompt = {1};
  Sampler s({.temperature = 0.0f, .repetition_penalty = 2.0f}, prompt);
  EXPECT_EQ(s.Sample(kLogits), 4);
  EXPECT_EQ(s.Sample(kLogits), 2);
}

TEST(SamplerTest, PresenceAndFrequencyPenaltiesCountOnlyTheOutput) {
  const std::vector<int32_t> prompt = {1};
  Sampler presence({.temperature = 0.0f, .presence_penalty = 0.6f}, prompt);
  EXPECT_EQ(presence.Sample(kLogits), 1);  // the prompt does not count
  EXPECT_EQ(presence.Sample(kLogits), 4);  // 3.0 - 0.6 = 2.4 < 2.5
  Sampler frequency({.temperature = 0.0f, .frequency_penalty = 0.3f});
  EXPECT_EQ(frequency.Sample(kLogits), 1);  // 3.0
  EXPECT_EQ(frequency.Sample(kLogits), 1);  // 2.7 > 2.5
  EXPECT_EQ(frequency.Sample(kLogits), 4);  // 2.4 < 2.5
}

TEST(SamplerTest, MinPDropsUnlikelyTokens) {
  // At T = 1, p(i) / p(best) = exp(l_i - 3): token 4 0.61, token 2 0.37, token 0 0.14.
  Sampler s({.temperature = 1.0f, .min_p = 0.5f, .seed = 13});
  for (int i = 0; i < 500; ++i) {
    const int32_t token = s.Sample(kLogits);
    EXPECT_TRUE(token == 1 || token == 4) << token;
  }
}

// A nucleus of hundreds of candidates, out of 5,000 in no particular id order: the draws stay
// inside the heaviest prefix whose mass reaches top_p, and reach its far end.
TEST(SamplerTest, NucleusOfManyCandidatesIsTheHeaviestPrefix) {
  const int n = 5000;
  std::vector<float> logits(n);
  for (int i = 0; i < n; ++i)
    logits[i] = -0.0005f * ((i * 761) % n);  // 761 is coprime with n: a permutation
  std::vector<std::pair<double, int>> by_weight;
  double total = 0.0;
  for (int i = 0; i < n; ++i) {
    by_weight.emplace_back(std::exp(double(logits[i])), i);
    total += by_weight.back().first;
  }
  std::sort(by_weight.begin(), by_weight.end(), std::greater<>());
  std::set<int> nucleus;
  double mass = 0.0;
  for (const auto& [weight, id] : by_weight) {
    nucleus.insert(id);
    if ((mass += weight) >= 0.6 * total) break;
  }
  ASSERT_GT(nucleus.size(), 512u);  // past the first two rounds of partial sorting
  Sampler sampler({.temperature = 1.0f, .top_p = 0.6f, .seed = 5});
  std::set<int> drawn;
  for (int i = 0; i < 20000; ++i) {
    const int32_t id = sampler.Sample(logits);
    ASSERT_TRUE(nucleus.count(id)) << "drew " << id << ", outside the nucleus";
    drawn.insert(id);
  }
  EXPECT_GT(drawn.size(), nucleus.size() * 9 / 10);
}

TEST(SamplerTest, ValidateNamesTheField) {
  EXPECT_NE(Validate({.min_p = 2.0f}).message().find("min_p"), std::string::npos);
  EXPECT_NE(Validate({.repetition_penalty = 0.0f}).message().find("repetition_penalty"),
            std::string::npos);
  EXPECT_NE(Validate({.presence_penalty = 3.0f}).message().find("presence_penalty"),
            std::string::npos);
  EXPECT_NE(Validate({.frequency_penalty = -2.5f}).message().find("frequency_penalty"),
            std::string::npos);
  EXPECT_NE(Validate({.temperature = -0.5f}).message().find("temperature"), std::string::npos);
  EXPECT_NE(Validate({.top_k = -1}).message().find("top_k"), std::string::npos);
  EXPECT_NE(Validate({.top_p = 1.5f}).message().find("top_p"), std::string::npos);
  EXPECT_NE(Validate({.top_p = 0.0f}).message().find("top_p"), std::string::npos);
  EXPECT_TRUE(Validate({.temperature = 0.7f, .top_k = 40, .top_p = 0.9f}).ok());
}

}  // namespace
}  // namespace ssm
