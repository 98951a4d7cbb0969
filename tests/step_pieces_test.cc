// Cutting large forward steps into pieces: the cut itself, and that a backend running a step in
// pieces computes exactly what it computes in one.
#include "engine/step_pieces.h"

#include <map>
#include <numeric>

#include "engine/cpu_backend.h"
#include "gtest/gtest.h"
#include "tests/support/fixtures.h"

namespace ssm {
namespace {

// A piece entry as (slot, first token id, token count, output row), for comparisons.
using Entry = std::tuple<int32_t, int32_t, size_t, int>;

std::vector<std::vector<Entry>> Describe(const std::vector<StepPiece>& pieces) {
  std::vector<std::vector<Entry>> out;
  for (const StepPiece& piece : pieces) {
    out.emplace_back();
    for (size_t i = 0; i < piece.batch.size(); ++i) {
      const SequenceInput& s = piece.batch[i];
      out.back().emplace_back(s.slot, s.tokens.front(), s.tokens.size(), piece.output_rows[i]);
    }
  }
  return out;
}

std::vector<int32_t> Range(int32_t first, int32_t count) {
  std::vector<int32_t> v(count);
  std::iota(v.begin(), v.end(), first);
  return v;
}

TEST(SplitStepTest, AStepThatFitsIsOnePiece) {
  const std::vector<int32_t> a = Range(0, 3), b = Range(10, 1);
  const std::vector<SequenceInput> batch = {{5, a}, {2, b}};
  EXPECT_EQ(Describe(SplitStep(batch, 4)),
            (std::vector<std::vector<Entry>>{{{5, 0, 3, 0}, {2, 10, 1, 1}}}));
}

TEST(SplitStepTest, LongSequencesContinueInTheNextPiece) {
  const std::vector<int32_t> a = Range(0, 5), b = Range(100, 1), c = Range(200, 6);
  const std::vector<SequenceInput> batch = {{0, a}, {1, b}, {2, c}};
  EXPECT_EQ(Describe(SplitStep(batch, 4)), (std::vector<std::vector<Entry>>{
                                               {{0, 0, 4, -1}},
                                               {{0, 4, 1, 0}, {1, 100, 1, 1}, {2, 200, 2, -1}},
                                               {{2, 202, 4, 2}},
                                           }));
}

TEST(SplitStepTest, EveryTokenOnceInOrderAndNoPieceOverTheLimit) {
  std::vector<std::vector<int32_t>> prompts;
  std::vector<SequenceInput> batch;
  for (int s = 0; s < 9; ++s) prompts.push_back(Range(1000 * s, 1 + (s * 7) % 13));
  for (int s = 0; s < 9; ++s) batch.push_back({s, prompts[s]});
  for (int64_t max_tokens : {1, 2, 5, 13, 100}) {
    std::map<int32_t, std::vector<int32_t>> seen;
    std::map<int32_t, int> rows;
    for (const StepPiece& piece : SplitStep(batch, max_tokens)) {
      int64_t tokens = 0;
      for (size_t i = 0; i < piece.batch.size(); ++i) {
        const SequenceInput& s = piece.batch[i];
        tokens += s.tokens.size();
        seen[s.slot].insert(seen[s.slot].end(), s.tokens.begin(), s.tokens.end());
        if (piece.output_rows[i] >= 0) rows[s.slot] = piece.output_rows[i];
      }
      EXPECT_LE(tokens, max_tokens);
    }
    for (int s = 0; s < 9; ++s) {
      EXPECT_EQ(seen[s], prompts[s]) << "slot " << s << ", pieces of " << max_tokens;
      EXPECT_EQ(rows[s], s) << "slot " << s << ", pieces of " << max_tokens;
    }
  }
}

// Three sequences of mixed lengths in one step, whole and in pieces of 8 tokens.
TEST(SplitStepTest, ABackendGivesTheSameLogitsAndStatesInPieces) {
  absl::StatusOr<std::unique_ptr<Model>> model = Model::Load(testing::FixturePath("mamba2_g1_f32"));
  ASSERT_TRUE(model.ok()) << model.status();
  CpuBackend whole(**model, 3), in_pieces(**model, 3);
  in_pieces.set_max_step_tokens(8);
  const std::vector<int32_t> a = Range(1, 37), b = Range(5, 1), c = Range(9, 20);
  const std::vector<SequenceInput> batch = {{0, a}, {1, b}, {2, c}};
  const size_t vocab = whole.vocab_size();
  std::vector<float> expected(3 * vocab), actual(3 * vocab);
  ASSERT_TRUE(whole.Forward(batch, expected).ok());
  ASSERT_TRUE(in_pieces.Forward(batch, actual).ok());
  for (size_t i = 0; i < expected.size(); ++i) {
    ASSERT_NEAR(actual[i], expected[i], 1e-4f * std::abs(expected[i]) + 1e-5f) << "logit " << i;
  }
  for (int slot = 0; slot < 3; ++slot) {
    const std::vector<float> want = whole.ReadSlot(slot), got = in_pieces.ReadSlot(slot);
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_NEAR(got[i], want[i], 1e-4f * std::abs(want[i]) + 1e-5f) << "slot " << slot;
    }
  }
  // The greedy form too, continuing from those states.
  const std::vector<int32_t> more = Range(3, 19);
  const std::vector<SequenceInput> next_step = {{0, more}, {2, b}};
  std::vector<int32_t> want_ids(2), got_ids(2);
  ASSERT_TRUE(whole.ForwardGreedy(next_step, want_ids).ok());
  ASSERT_TRUE(in_pieces.ForwardGreedy(next_step, got_ids).ok());
  EXPECT_EQ(got_ids, want_ids);
}

// A sampled step draws from the step's logits by the definition of the draw, whole and in
// pieces; without a draw per sequence it is refused.
TEST(SplitStepTest, ASampledStepDrawsFromItsLogitsWholeAndInPieces) {
  absl::StatusOr<std::unique_ptr<Model>> model =
      Model::Load(testing::FixturePath("mamba1_tied_k4_f32"));
  ASSERT_TRUE(model.ok()) << model.status();
  CpuBackend for_logits(**model, 2), whole(**model, 2), in_pieces(**model, 2);
  in_pieces.set_max_step_tokens(8);
  const std::vector<int32_t> a = Range(1, 37), c = Range(9, 20);
  const std::vector<SequenceInput> batch = {{0, a}, {1, c}};
  const std::vector<TokenDraw> draws = {
      {.temperature = 0.8f, .top_p = 0.9f, .uniform = 0.31},
      {.temperature = 1.3f, .top_k = 20, .min_p = 0.01f, .uniform = 0.77}};
  const size_t vocab = whole.vocab_size();
  std::vector<float> logits(2 * vocab);
  ASSERT_TRUE(for_logits.Forward(batch, logits).ok());
  TokenDrawer drawer;
  std::vector<int32_t> expected;
  for (size_t i = 0; i < 2; ++i) {
    expected.push_back(drawer.Draw(std::span<const float>(&logits[i * vocab], vocab), draws[i]));
  }
  std::vector<int32_t> got_whole(2), got_in_pieces(2);
  ASSERT_TRUE(whole.ForwardSampled(batch, draws, got_whole).ok());
  ASSERT_TRUE(in_pieces.ForwardSampled(batch, draws, got_in_pieces).ok());
  EXPECT_EQ(got_whole, expected);
  EXPECT_EQ(got_in_pieces, expected);
  const absl::Status short_of_draws =
      whole.ForwardSampled(batch, std::span(draws).first(1), got_whole);
  EXPECT_TRUE(absl::IsInvalidArgument(short_of_draws)) << short_of_draws;
}

}  // namespace
}  // namespace ssm
