// Slot bookkeeping and input validation of the CPU backend.
#include "engine/cpu_backend.h"

#include "engine/greedy.h"
#include "gtest/gtest.h"
#include "tests/support/fixtures.h"

namespace ssm {
namespace {

class CpuBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Model>> model =
        Model::Load(testing::FixturePath("mamba2_g2_untied_bias_f32"));
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = *std::move(model);
    backend_ = std::make_unique<CpuBackend>(*model_, 4);
    logits_.resize(4 * backend_->vocab_size());
  }

  absl::Status Feed(int slot, std::vector<int32_t> tokens) {
    const SequenceInput input{slot, tokens};
    return backend_->Forward({&input, 1}, logits_);
  }

  std::unique_ptr<Model> model_;
  std::unique_ptr<CpuBackend> backend_;
  std::vector<float> logits_;
};

TEST_F(CpuBackendTest, SlotSizeIsTheConstantPerSessionState) {
  const ModelConfig& c = model_->config();
  EXPECT_EQ(backend_->slot_size(),
            c.n_layer * ((c.d_conv - 1) * (c.d_inner + 2 * c.n_groups * c.d_state) +
                         c.n_heads * c.head_dim * c.d_state));
}

TEST_F(CpuBackendTest, RejectsBadInputWithoutTouchingState) {
  ASSERT_TRUE(Feed(0, {1, 2, 3}).ok());
  const std::vector<float> before = backend_->ReadSlot(0);
  const std::vector<int32_t> ok_tokens = {5};
  const std::vector<int32_t> bad_token = {static_cast<int32_t>(backend_->vocab_size())};
  const std::vector<int32_t> negative = {-1};

  struct Case {
    std::vector<SequenceInput> batch;
    const char* message_part;
  };
  const std::vector<Case> cases = {
      {{{0, ok_tokens}, {7, ok_tokens}}, "slot 7 is outside"},
      {{{0, ok_tokens}, {-1, ok_tokens}}, "slot -1 is outside"},
      {{{0, ok_tokens}, {0, ok_tokens}}, "appears twice"},
      {{{0, bad_token}}, "outside the vocabulary"},
      {{{0, negative}}, "token id -1"},
      {{{0, {}}}, "no tokens"},
  };
  for (const Case& c : cases) {
    const absl::Status status = backend_->Forward(c.batch, logits_);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.message_part;
    EXPECT_NE(status.message().find(c.message_part), std::string::npos) << status;
    EXPECT_EQ(backend_->ReadSlot(0), before) << c.message_part;
  }
  std::vector<float> small(backend_->vocab_size() - 1);
  const SequenceInput input{0, ok_tokens};
  EXPECT_EQ(backend_->Forward({&input, 1}, small).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(CpuBackendTest, ClearedSlotBehavesLikeANewContext) {
  ASSERT_TRUE(Feed(0, {9, 8, 7}).ok());
  const std::vector<float> fresh(logits_.begin(), logits_.begin() + backend_->vocab_size());
  ASSERT_TRUE(Feed(0, {1, 2}).ok());
  backend_->ClearSlot(0);
  ASSERT_TRUE(Feed(0, {9, 8, 7}).ok());
  EXPECT_EQ(std::vector<float>(logits_.begin(), logits_.begin() + backend_->vocab_size()), fresh);
}

// A copied slot (fork) continues exactly like the original, and independently of it.
TEST_F(CpuBackendTest, CopiedSlotContinuesIdentically) {
  ASSERT_TRUE(Feed(0, {3, 1, 4, 1, 5}).ok());
  backend_->CopySlot(0, 1);
  absl::StatusOr<GreedyResult> original = GenerateGreedy(*backend_, 0, std::vector<int32_t>{9}, 10);
  absl::StatusOr<GreedyResult> copy = GenerateGreedy(*backend_, 1, std::vector<int32_t>{9}, 10);
  ASSERT_TRUE(original.ok() && copy.ok());
  EXPECT_EQ(original->generated, copy->generated);
  EXPECT_EQ(original->prompt_logits, copy->prompt_logits);
}

TEST_F(CpuBackendTest, StateWrittenBackContinuesIdentically) {
  ASSERT_TRUE(Feed(0, {2, 7, 1, 8}).ok());
  const std::vector<float> saved = backend_->ReadSlot(0);
  ASSERT_TRUE(backend_->WriteSlot(2, saved).ok());
  EXPECT_EQ(backend_->ReadSlot(2), saved);
  absl::StatusOr<GreedyResult> a = GenerateGreedy(*backend_, 0, std::vector<int32_t>{4}, 6);
  absl::StatusOr<GreedyResult> b = GenerateGreedy(*backend_, 2, std::vector<int32_t>{4}, 6);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->generated, b->generated);
}

TEST_F(CpuBackendTest, WriteSlotRejectsAStateOfTheWrongSize) {
  std::vector<float> wrong(backend_->slot_size() + 1);
  const absl::Status status = backend_->WriteSlot(0, wrong);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("slots hold"), std::string::npos) << status;
}

TEST(GreedyTest, ArgMaxTakesTheFirstOfEqualMaxima) {
  const std::vector<float> v = {0.5f, 2.0f, -1.0f, 2.0f};
  EXPECT_EQ(ArgMax(v), 1);
}

}  // namespace
}  // namespace ssm
