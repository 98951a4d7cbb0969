// Every backend against what Hugging Face transformers computed for the same weights: the
// random-weight fixtures (tests/fixtures, tools/make_fixtures.py) and the trained demo model
// (models/tinystories-mamba, tools/train_demo_model.py). The CUDA cases skip without a GPU.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>

#include "engine/backend_factory.h"
#include "engine/greedy.h"
#include "gtest/gtest.h"
#include "tests/support/fixtures.h"

namespace ssm {
namespace {

using testing::ExpectedPrompt;

// One backend on one reference model.
struct GoldenCase {
  std::string device;
  std::string model_dir;
};
void PrintTo(const GoldenCase& c, std::ostream* os) { *os << c.device << " on " << c.model_dir; }

// How closely a backend must agree, as fractions of the largest |value| compared.
struct Tolerances {
  float logits;       // with transformers
  float consistency;  // between two ways of computing the same thing (batched vs solo, ...)
};

// CPU: fp32 math throughout. CUDA with fp32 matrices: fp32 too, but other summation orders.
// CUDA with f16/bf16 matrices: activations are rounded to that type for the tensor cores, which
// moves logits by about 1%; there the greedy ids are what must agree (up to near-ties).
Tolerances TolerancesFor(const std::string& device, DType matrices) {
  if (device == "cpu") return {1e-4f, 1e-5f};
  if (matrices == DType::kF32) return {1e-3f, 1e-4f};
  return {5e-2f, 2e-2f};
}

float MaxAbs(std::span<const float> v) {
  float m = 0.0f;
  for (float x : v) m = std::max(m, std::abs(x));
  return m;
}

float MaxAbsDiff(std::span<const float> a, std::span<const float> b) {
  float m = 0.0f;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

class GoldenTest : public ::testing::TestWithParam<GoldenCase> {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Model>> model = Model::Load(GetParam().model_dir);
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = *std::move(model);
    absl::StatusOr<std::unique_ptr<Backend>> backend =
        MakeBackend(*model_, {.device = GetParam().device, .num_slots = 8});
    if (absl::IsFailedPrecondition(backend.status())) GTEST_SKIP() << backend.status();
    ASSERT_TRUE(backend.ok()) << backend.status();
    backend_ = *std::move(backend);
    tolerances_ = TolerancesFor(GetParam().device, model_->weights().layers[0].in_proj->dtype);
    expected_ = testing::LoadExpected(GetParam().model_dir);
    ASSERT_GE(expected_.size(), 3u);
    ASSERT_LT(expected_.size(), 8u);  // one slot each, and one more for solo runs
  }

  // Logits after feeding `tokens` into a cleared slot in chunks of `chunk`.
  std::vector<float> Prefill(int slot, std::span<const int32_t> tokens, size_t chunk) {
    backend_->ClearSlot(slot);
    std::vector<float> logits(backend_->vocab_size());
    for (size_t i = 0; i < tokens.size(); i += chunk) {
      const SequenceInput input{slot, tokens.subspan(i, std::min(chunk, tokens.size() - i))};
      EXPECT_TRUE(backend_->Forward({&input, 1}, logits).ok());
    }
    return logits;
  }

  std::unique_ptr<Model> model_;
  std::unique_ptr<Backend> backend_;
  Tolerances tolerances_;
  std::vector<ExpectedPrompt> expected_;
};

TEST_P(GoldenTest, PromptLogitsMatchTransformers) {
  for (const ExpectedPrompt& p : expected_) {
    const std::vector<float> logits = Prefill(0, p.prompt_ids, p.prompt_ids.size());
    ASSERT_EQ(logits.size(), p.prompt_logits.size());
    const float scale = MaxAbs(p.prompt_logits);
    const float error = MaxAbsDiff(logits, p.prompt_logits);
    EXPECT_LE(error, tolerances_.logits * scale)
        << "prompt of " << p.prompt_ids.size() << " tokens, largest |logit| " << scale;
    RecordProperty("relative_logit_error_" + std::to_string(p.prompt_ids.size()),
                   std::to_string(error / scale));
  }
}

TEST_P(GoldenTest, GreedyContinuationMatchesTransformers) {
  for (const ExpectedPrompt& p : expected_) {
    backend_->ClearSlot(0);
    absl::StatusOr<GreedyResult> result =
        GenerateGreedy(*backend_, 0, p.prompt_ids, p.greedy_ids.size());
    ASSERT_TRUE(result.ok()) << result.status();
    // After a near-tie, either pick is right and the continuations may part ways.
    const size_t comparable = p.near_tie_step < 0 ? p.greedy_ids.size() : p.near_tie_step;
    ASSERT_GE(comparable, 10u) << "fixture has a near-tie too early to be useful";
    EXPECT_EQ(
        std::vector<int32_t>(result->generated.begin(), result->generated.begin() + comparable),
        std::vector<int32_t>(p.greedy_ids.begin(), p.greedy_ids.begin() + comparable))
        << "prompt of " << p.prompt_ids.size() << " tokens";
  }
}

// All four prompts in one step (mixed lengths, one slot each) give what each gives alone, and
// so do the decode steps that follow with all four sequences batched.
TEST_P(GoldenTest, BatchedEqualsSolo) {
  const int64_t vocab = backend_->vocab_size();
  std::vector<SequenceInput> batch;
  for (size_t i = 0; i < expected_.size(); ++i) {
    backend_->ClearSlot(i);
    batch.push_back({static_cast<int32_t>(i), expected_[i].prompt_ids});
  }
  std::vector<float> logits(expected_.size() * vocab);
  ASSERT_TRUE(backend_->Forward(batch, logits).ok());

  std::vector<std::vector<int32_t>> generated(expected_.size());
  for (int step = 0; step < 8; ++step) {
    for (size_t i = 0; i < expected_.size(); ++i) {
      generated[i].push_back(ArgMax({&logits[i * vocab], size_t(vocab)}));
      batch[i].tokens = {&generated[i].back(), 1};
    }
    ASSERT_TRUE(backend_->Forward(batch, logits).ok());
  }
  for (size_t i = 0; i < expected_.size(); ++i) {
    const int solo_slot = expected_.size();
    backend_->ClearSlot(solo_slot);
    absl::StatusOr<GreedyResult> solo =
        GenerateGreedy(*backend_, solo_slot, expected_[i].prompt_ids, 8);
    ASSERT_TRUE(solo.ok());
    EXPECT_EQ(generated[i], solo->generated) << "prompt " << i;
    const std::span<const float> batched(&logits[i * vocab], vocab);
    // The state after 7 more tokens must match too: compare the last logits of both runs.
    std::vector<float> solo_logits(vocab);
    const SequenceInput last{solo_slot, {&solo->generated.back(), 1}};
    ASSERT_TRUE(backend_->Forward({&last, 1}, solo_logits).ok());
    EXPECT_LE(MaxAbsDiff(batched, solo_logits), tolerances_.consistency * MaxAbs(solo_logits))
        << "prompt " << i;
  }
}

TEST_P(GoldenTest, ChunkedAndTokenByTokenPrefillReachTheSameState) {
  const std::vector<int32_t>& prompt =
      std::max_element(expected_.begin(), expected_.end(), [](const auto& a, const auto& b) {
        return a.prompt_ids.size() < b.prompt_ids.size();
      })->prompt_ids;
  const std::vector<float> whole_logits = Prefill(0, prompt, prompt.size());
  const std::vector<float> whole_state = backend_->ReadSlot(0);
  const float state_scale = MaxAbs(whole_state);
  for (size_t chunk : {1, 7, 64}) {
    const std::vector<float> logits = Prefill(1, prompt, chunk);
    EXPECT_LE(MaxAbsDiff(backend_->ReadSlot(1), whole_state), tolerances_.consistency * state_scale)
        << "chunks of " << chunk;
    EXPECT_LE(MaxAbsDiff(logits, whole_logits), tolerances_.consistency * MaxAbs(whole_logits))
        << "chunks of " << chunk;
  }
}

std::vector<GoldenCase> Cases(const std::string& device) {
  std::vector<GoldenCase> cases;
  for (const std::string& dir : testing::ReferenceModelDirs()) cases.push_back({device, dir});
  return cases;
}

// Test names are the folder names, with characters that gtest does not allow replaced.
std::string FolderTestName(const ::testing::TestParamInfo<GoldenCase>& info) {
  std::string name = std::filesystem::path(info.param.model_dir).filename();
  std::replace_if(
      name.begin(), name.end(), [](char c) { return !std::isalnum(c); }, '_');
  return name;
}

INSTANTIATE_TEST_SUITE_P(Cpu, GoldenTest, ::testing::ValuesIn(Cases("cpu")), FolderTestName);
#ifdef SSM_HAVE_CUDA
INSTANTIATE_TEST_SUITE_P(Cuda, GoldenTest, ::testing::ValuesIn(Cases("cuda")), FolderTestName);
#endif

TEST(GoldenFixtures, CoverTheCasesTheEngineMustHandle) {
  const std::vector<std::string> names = testing::FixtureNames();
  auto count = [&](std::string_view part) {
    return std::count_if(names.begin(), names.end(),
                         [&](const std::string& n) { return n.find(part) != std::string::npos; });
  };
  EXPECT_GE(count("mamba1_"), 4);
  EXPECT_GE(count("mamba2_"), 3);
  EXPECT_GE(count("bf16"), 2);
  EXPECT_GE(count("sharded"), 1);
  EXPECT_GE(count("original_naming"), 2);
}

}  // namespace
}  // namespace ssm
