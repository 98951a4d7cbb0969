// The shipped demo model (models/tinystories-mamba) as a user meets it: text in, text out. The
// numbers themselves are checked against transformers in golden_test.cc; this checks that our
// tokenizer turns the demo prompts into the ids transformers saw and the continuations back into
// the text it printed.
#include "engine/cpu_backend.h"
#include "engine/greedy.h"
#include "engine/tokenizer/tokenizer.h"
#include "gtest/gtest.h"
#include "tests/support/fixtures.h"

namespace ssm {
namespace {

class DemoModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer =
        Tokenizer::Load(testing::DemoModelDir() + "/tokenizer.json");
    ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
    tokenizer_ = *std::move(tokenizer);
    expected_ = testing::LoadExpected(testing::DemoModelDir());
    ASSERT_FALSE(expected_.empty());
  }

  std::unique_ptr<Tokenizer> tokenizer_;
  std::vector<testing::ExpectedPrompt> expected_;
};

TEST_F(DemoModelTest, TokenizerMatchesTheOneItWasTrainedWith) {
  for (const testing::ExpectedPrompt& p : expected_) {
    absl::StatusOr<std::vector<int32_t>> ids = tokenizer_->Encode(p.prompt_text);
    ASSERT_TRUE(ids.ok()) << ids.status();
    EXPECT_EQ(*ids, p.prompt_ids) << p.prompt_text;
    absl::StatusOr<std::string> text = tokenizer_->Decode(p.greedy_ids);
    ASSERT_TRUE(text.ok()) << text.status();
    EXPECT_EQ(*text, p.greedy_text);
  }
}

TEST_F(DemoModelTest, ContinuesTheStoryAsTransformersDid) {
  absl::StatusOr<std::unique_ptr<Model>> model = Model::Load(testing::DemoModelDir());
  ASSERT_TRUE(model.ok()) << model.status();
  CpuBackend backend(**model, 1);
  const testing::ExpectedPrompt& once_upon_a_time = expected_.front();
  absl::StatusOr<std::vector<int32_t>> prompt = tokenizer_->Encode(once_upon_a_time.prompt_text);
  ASSERT_TRUE(prompt.ok());
  absl::StatusOr<GreedyResult> result =
      GenerateGreedy(backend, 0, *prompt, once_upon_a_time.greedy_ids.size());
  ASSERT_TRUE(result.ok()) << result.status();
  absl::StatusOr<std::string> text = tokenizer_->Decode(result->generated);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, once_upon_a_time.greedy_text);
}

}  // namespace
}  // namespace ssm
