// The token draw that host and device share (engine/token_draw.h), on small rows whose answer
// follows from the definition: which tokens each cut keeps, and the walk in id order.
#include "engine/token_draw.h"

#include <cmath>
#include <limits>
#include <vector>

#include "gtest/gtest.h"

namespace ssm {
namespace {

const float kHalf = std::log(0.5f);  // a logit whose weight is half the best's (temperature 1)

int32_t Draw(const std::vector<float>& logits, TokenDraw draw) {
  TokenDrawer drawer;
  return drawer.Draw(logits, draw);
}

TEST(TokenDrawTest, ZeroTemperatureIsTheArgmaxWhateverTheUniform) {
  EXPECT_EQ(Draw({0.0f, 2.0f, 1.0f}, {.temperature = 0.0f, .uniform = 0.99}), 1);
}

TEST(TokenDrawTest, WalksTheKeptTokensInIdOrder) {
  // Weights 0.5, 1, 0.5 of a total 2: the uniform's share of 2 lands in id order.
  const std::vector<float> logits = {kHalf, 0.0f, kHalf};
  EXPECT_EQ(Draw(logits, {.temperature = 1.0f, .uniform = 0.20}), 0);  // 0.4 < 0.5
  EXPECT_EQ(Draw(logits, {.temperature = 1.0f, .uniform = 0.30}), 1);  // 0.6 in [0.5, 1.5)
  EXPECT_EQ(Draw(logits, {.temperature = 1.0f, .uniform = 0.80}), 2);  // 1.6 >= 1.5
}

TEST(TokenDrawTest, TopKKeepsEveryTokenTiedWithTheKth) {
  const std::vector<float> logits = {3.0f, 3.0f, 1.0f, 3.0f};
  EXPECT_EQ(Draw(logits, {.temperature = 1.0f, .top_k = 1, .uniform = 0.0}), 0);
  EXPECT_EQ(Draw(logits, {.temperature = 1.0f, .top_k = 1, .uniform = 0.5}), 1);
  EXPECT_EQ(Draw(logits, {.temperature = 1.0f, .top_k = 1, .uniform = 0.99}), 3);
}

TEST(TokenDrawTest, MinPDropsTokensLighterThanItsShareOfTheBest) {
  // Weights 1, 0.5, ~0.05: min_p 0.2 keeps ids 0 and 1 only.
  const std::vector<float> logits = {0.0f, kHalf, -3.0f};
  EXPECT_EQ(Draw(logits, {.temperature = 1.0f, .min_p = 0.2f, .uniform = 0.999}), 1);
  EXPECT_EQ(Draw(logits, {.temperature = 1.0f, .min_p = 0.0f, .uniform = 0.999}), 2);
}

TEST(TokenDrawTest, TopPKeepsTheHeaviestTokensThatReachItsShare) {
  // Weights: id 0 0.5, id 1 0.3, id 2 0.2, id 3 1; total 2. top_p 0.7 needs 1.4: ids 3 and 0
  // (1.5) suffice, so ids 1 and 2 go, and the draw walks ids 0 then 3.
  const std::vector<float> logits = {kHalf, std::log(0.3f), std::log(0.2f), 0.0f};
  auto nucleus = [](double uniform) {
    return TokenDraw{.temperature = 1.0f, .top_p = 0.7f, .uniform = uniform};
  };
  EXPECT_EQ(Draw(logits, nucleus(0.30)), 0);  // 0.45 of 1.5
  EXPECT_EQ(Draw(logits, nucleus(0.40)), 3);  // 0.6
  EXPECT_EQ(Draw(logits, nucleus(0.999)), 3);
  // A tie with the lightest token needed stays: id 1 as heavy as id 0.
  const std::vector<float> tied = {kHalf, kHalf, std::log(0.2f), 0.0f};
  EXPECT_EQ(Draw(tied, nucleus(0.30)), 1);  // 0.6 of 2
}

TEST(TokenDrawTest, TemperatureFlattensTheWeights) {
  // At temperature 2 the weights of logits 0 and 2 ln 2 are 0.5 and 1 (not 0.25 and 1).
  const std::vector<float> logits = {0.0f, 2.0f * std::log(2.0f)};
  EXPECT_EQ(Draw(logits, {.temperature = 2.0f, .uniform = 0.30}), 0);  // 0.45 < 0.5
  EXPECT_EQ(Draw(logits, {.temperature = 2.0f, .uniform = 0.36}), 1);  // 0.54
}

// Broken logits (a model that overflowed) give a token inside the vocabulary, never a crash: the
// argmax, with every cut.
TEST(TokenDrawTest, BrokenLogitsGiveTheArgmax) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::nanf("");
  const std::vector<std::vector<float>> rows = {
      {-inf, -inf, -inf}, {1.0f, inf, 2.0f}, {1.0f, 3.0f, nan}, {nan, nan, nan}};
  const std::vector<int32_t> argmax = {0, 1, 1, 0};
  for (size_t r = 0; r < rows.size(); ++r) {
    for (TokenDraw draw :
         {TokenDraw{.temperature = 1.0f, .uniform = 0.7},
          TokenDraw{.temperature = 0.5f, .top_k = 2, .top_p = 0.5f, .uniform = 0.9},
          TokenDraw{.temperature = 2.0f, .min_p = 0.1f, .uniform = 0.1}}) {
      const int32_t id = Draw(rows[r], draw);
      if (r == 2) {
        // One NaN among finite logits: the finite ones are still drawn from.
        EXPECT_TRUE(id == 0 || id == 1) << "row " << r;
      } else {
        EXPECT_EQ(id, argmax[r]) << "row " << r;
      }
    }
  }
}

}  // namespace
}  // namespace ssm
