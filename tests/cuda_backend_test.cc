// The CUDA backend against the CPU backend on a model of a published size, where the fixtures
// are too small to show drift. Skips without a GPU (or without the CUDA backend library).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <span>
#include <vector>

#include "engine/backend_factory.h"
#include "engine/greedy.h"
#include "gtest/gtest.h"

namespace ssm {
namespace {

// Teacher-forced decoding: both backends are fed the CPU's greedy choice at every step, so one
// disagreement does not send the two down different paths. Returns the fraction of steps where
// their top-1 ids agree.
double TopOneAgreement(Backend& cpu, Backend& cuda, int steps) {
  const int64_t vocab = cpu.vocab_size();
  std::vector<float> cpu_logits(vocab), cuda_logits(vocab);
  std::vector<int32_t> token = {1};
  int agree = 0;
  for (int step = 0; step < steps; ++step) {
    const SequenceInput input{0, token};
    EXPECT_TRUE(cpu.Forward({&input, 1}, cpu_logits).ok());
    EXPECT_TRUE(cuda.Forward({&input, 1}, cuda_logits).ok());
    token[0] = ArgMax(cpu_logits);
    agree += token[0] == ArgMax(cuda_logits);
  }
  return static_cast<double>(agree) / steps;
}

class CudaVersusCpuTest : public ::testing::TestWithParam<bool> {};

TEST_P(CudaVersusCpuTest, GreedyIdsAgreeOverAThousandStepsOfMamba130m) {
  if (!DeviceAvailable("cuda")) GTEST_SKIP() << "no GPU";
  const bool bf16 = GetParam();
  absl::StatusOr<ModelConfig> config = PublishedShape("mamba-130m");
  ASSERT_TRUE(config.ok());
  std::unique_ptr<Model> model = Model::Random(*config, 7);
  absl::StatusOr<std::unique_ptr<Backend>> cuda =
      MakeBackend(*model, {.device = "cuda", .num_slots = 1, .bf16_matrices = bf16});
  ASSERT_TRUE(cuda.ok()) << cuda.status();
  absl::StatusOr<std::unique_ptr<Backend>> cpu = MakeBackend(*model, {.num_slots = 1});
  ASSERT_TRUE(cpu.ok());
  const double agreement = TopOneAgreement(**cpu, **cuda, 1000);
  std::printf("top-1 agreement over 1000 steps, %s matrices: %.4f\n", bf16 ? "bf16" : "fp32",
              agreement);
  RecordProperty("top1_agreement", std::to_string(agreement));
  EXPECT_GE(agreement, 0.99);
}

INSTANTIATE_TEST_SUITE_P(Matrices, CudaVersusCpuTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "bf16" : "fp32"; });

// A decode step of 9 sequences runs padded to its bucket of 16: the sequences get what the CPU
// computes, and slots outside the step (the padding runs in a scratch slot) stay as they were.
TEST(CudaDecodeTest, PaddedStepsMatchTheCpuAndLeaveOtherSlotsAlone) {
  if (!DeviceAvailable("cuda")) GTEST_SKIP() << "no GPU";
  absl::StatusOr<ModelConfig> config = PublishedShape("mamba-130m");
  ASSERT_TRUE(config.ok());
  config->n_layer = 2;
  std::unique_ptr<Model> model = Model::Random(*config, 5);
  constexpr int kSlots = 12, kSequences = 9;
  absl::StatusOr<std::unique_ptr<Backend>> cuda =
      MakeBackend(*model, {.device = "cuda", .num_slots = kSlots});
  ASSERT_TRUE(cuda.ok()) << cuda.status();
  absl::StatusOr<std::unique_ptr<Backend>> cpu = MakeBackend(*model, {.num_slots = kSlots});
  ASSERT_TRUE(cpu.ok());
  const int64_t vocab = model->config().vocab_size;
  std::vector<std::vector<int32_t>> next(kSequences);
  for (int s = 0; s < kSequences; ++s) next[s] = {100 + 37 * s};
  std::vector<float> cpu_logits(kSequences * vocab), cuda_logits(kSequences * vocab);
  for (int step = 0; step < 4; ++step) {
    std::vector<SequenceInput> batch;
    for (int s = 0; s < kSequences; ++s) batch.push_back({s, next[s]});
    ASSERT_TRUE((*cpu)->Forward(batch, cpu_logits).ok());
    ASSERT_TRUE((*cuda)->Forward(batch, cuda_logits).ok());
    for (int s = 0; s < kSequences; ++s) {
      const std::span<const float> want(&cpu_logits[s * vocab], vocab);
      const std::span<const float> got(&cuda_logits[s * vocab], vocab);
      float largest = 0, worst = 0;
      for (int64_t v = 0; v < vocab; ++v) {
        largest = std::max(largest, std::abs(want[v]));
        worst = std::max(worst, std::abs(want[v] - got[v]));
      }
      ASSERT_LE(worst, 1e-3f * largest) << "step " << step << " sequence " << s;
      next[s] = {ArgMax(want)};
    }
  }
  for (int slot = kSequences; slot < kSlots; ++slot) {
    for (float v : (*cuda)->ReadSlot(slot)) ASSERT_EQ(v, 0.0f) << "slot " << slot;
  }
}

TEST(MakeBackendTest, UnknownDeviceOrMissingGpuIsAClearError) {
  absl::StatusOr<ModelConfig> config = PublishedShape("mamba-130m");
  ASSERT_TRUE(config.ok());
  config->n_layer = 1;
  config->vocab_size = 64;
  std::unique_ptr<Model> model = Model::Random(*config, 1);
  absl::StatusOr<std::unique_ptr<Backend>> tpu = MakeBackend(*model, {.device = "tpu"});
  EXPECT_TRUE(absl::IsInvalidArgument(tpu.status())) << tpu.status();
  EXPECT_NE(tpu.status().message().find("tpu"), std::string::npos);
  if (!DeviceAvailable("cuda")) {
    absl::StatusOr<std::unique_ptr<Backend>> cuda = MakeBackend(*model, {.device = "cuda"});
    EXPECT_TRUE(absl::IsFailedPrecondition(cuda.status())) << cuda.status();
  }
}

}  // namespace
}  // namespace ssm
