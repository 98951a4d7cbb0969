#include "engine/sampler.h"

#include <cmath>
#include <map>

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

TEST(SamplerTest, ValidateNamesTheField) {
  EXPECT_NE(Validate({.temperature = -0.5f}).message().find("temperature"), std::string::npos);
  EXPECT_NE(Validate({.top_k = -1}).message().find("top_k"), std::string::npos);
  EXPECT_NE(Validate({.top_p = 1.5f}).message().find("top_p"), std::string::npos);
  EXPECT_TRUE(Validate({.temperature = 0.7f, .top_k = 40, .top_p = 0.9f}).ok());
}

}  // namespace
}  // namespace ssm
