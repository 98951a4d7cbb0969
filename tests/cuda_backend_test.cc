// The CUDA backend against the CPU backend on models of published sizes, where the fixtures are
// too small to show drift, with each way of storing matrices and state. Skips without a GPU (or
// without the CUDA backend library).
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include "engine/backend_factory.h"
#include "engine/dtype.h"
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

struct Storage {
  const char* name;
  const char* shape;
  bool bf16_matrices, bf16_state;
  double min_agreement;  // bf16 state: issue 6 asks for the figure; this bounds it
};

class CudaVersusCpuTest : public ::testing::TestWithParam<Storage> {};

TEST_P(CudaVersusCpuTest, GreedyIdsAgreeOverAThousandSteps) {
  if (!DeviceAvailable("cuda")) GTEST_SKIP() << "no GPU";
  const Storage storage = GetParam();
  absl::StatusOr<ModelConfig> config = PublishedShape(storage.shape);
  ASSERT_TRUE(config.ok());
  std::unique_ptr<Model> model = Model::Random(*config, 7);
  absl::StatusOr<std::unique_ptr<Backend>> cuda =
      MakeBackend(*model, {.device = "cuda",
                           .num_slots = 1,
                           .bf16_matrices = storage.bf16_matrices,
                           .bf16_state = storage.bf16_state});
  ASSERT_TRUE(cuda.ok()) << cuda.status();
  absl::StatusOr<std::unique_ptr<Backend>> cpu = MakeBackend(*model, {.num_slots = 1});
  ASSERT_TRUE(cpu.ok());
  const double agreement = TopOneAgreement(**cpu, **cuda, 1000);
  std::printf("top-1 agreement over 1000 steps, %s: %.4f\n", storage.name, agreement);
  RecordProperty("top1_agreement", std::to_string(agreement));
  EXPECT_GE(agreement, storage.min_agreement);
}

const Storage kStorages[] = {
    {"mamba-130m, fp32 matrices", "mamba-130m", false, false, 0.99},
    {"mamba-130m, bf16 matrices", "mamba-130m", true, false, 0.99},
    {"mamba-130m, bf16 matrices and state", "mamba-130m", true, true, 0.95},
    {"mamba2-130m, bf16 matrices", "mamba2-130m", true, false, 0.99},
    {"mamba2-130m, bf16 matrices and state", "mamba2-130m", true, true, 0.95},
};

std::string StorageTestName(const ::testing::TestParamInfo<Storage>& info) {
  std::string name = info.param.shape;
  std::erase(name, '-');
  return name + (info.param.bf16_matrices ? "Bf16Matrices" : "Fp32Matrices") +
         (info.param.bf16_state ? "Bf16State" : "");
}

INSTANTIATE_TEST_SUITE_P(Storage, CudaVersusCpuTest, ::testing::ValuesIn(kStorages),
                         StorageTestName);

// With a bf16 state, slots still read and write the fp32 format: the conv windows exactly, the
// SSM state rounded to bf16.
TEST(CudaBf16StateTest, SlotsKeepTheFp32FormatAndRoundTheState) {
  if (!DeviceAvailable("cuda")) GTEST_SKIP() << "no GPU";
  absl::StatusOr<ModelConfig> config = PublishedShape("mamba2-130m");
  ASSERT_TRUE(config.ok());
  config->n_layer = 2;
  std::unique_ptr<Model> model = Model::Random(*config, 3);
  absl::StatusOr<std::unique_ptr<Backend>> cuda =
      MakeBackend(*model, {.device = "cuda", .num_slots = 2, .bf16_state = true});
  ASSERT_TRUE(cuda.ok()) << cuda.status();
  const int64_t layer = config->conv_state_size() + config->ssm_state_size();
  ASSERT_EQ((*cuda)->slot_size(), 2 * layer);
  EXPECT_LT((*cuda)->slot_bytes(), (*cuda)->slot_size() * 3);  // about 2 bytes per state value
  std::vector<float> state((*cuda)->slot_size());
  for (size_t i = 0; i < state.size(); ++i) state[i] = 1.0f + 1e-3f * static_cast<float>(i % 977);
  ASSERT_TRUE((*cuda)->WriteSlot(1, state).ok());
  const std::vector<float> back = (*cuda)->ReadSlot(1);
  std::vector<uint16_t> rounded(state.size());
  RoundToBf16(state.data(), state.size(), rounded.data());
  for (int64_t i = 0; i < (*cuda)->slot_size(); ++i) {
    const bool conv = i % layer < config->conv_state_size();
    const float expected = conv ? state[i] : std::bit_cast<float>(uint32_t{rounded[i]} << 16);
    ASSERT_EQ(back[i], expected) << "float " << i << (conv ? " (conv window)" : " (SSM state)");
  }
}

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

// Prompts long enough for the chunked scan (and, for Mamba-2's 64 x 128 heads, its SSD form)
// give the CPU's logits, alone and two at once.
TEST(CudaPrefillTest, LongPromptsMatchTheCpu) {
  if (!DeviceAvailable("cuda")) GTEST_SKIP() << "no GPU";
  for (const char* shape : {"mamba-130m", "mamba2-130m"}) {
    absl::StatusOr<ModelConfig> config = PublishedShape(shape);
    ASSERT_TRUE(config.ok());
    config->n_layer = 2;
    std::unique_ptr<Model> model = Model::Random(*config, 11);
    absl::StatusOr<std::unique_ptr<Backend>> cuda =
        MakeBackend(*model, {.device = "cuda", .num_slots = 2});
    ASSERT_TRUE(cuda.ok()) << cuda.status();
    absl::StatusOr<std::unique_ptr<Backend>> cpu = MakeBackend(*model, {.num_slots = 2});
    ASSERT_TRUE(cpu.ok());
    std::vector<int32_t> first(700), second(555);
    for (size_t i = 0; i < first.size(); ++i) first[i] = (i * 7919 + 13) % 50000;
    for (size_t i = 0; i < second.size(); ++i) second[i] = (i * 104729 + 5) % 50000;
    const std::vector<SequenceInput> batch = {{0, first}, {1, second}};
    const int64_t vocab = model->config().vocab_size;
    std::vector<float> want(2 * vocab), got(2 * vocab);
    ASSERT_TRUE((*cpu)->Forward(batch, want).ok());
    ASSERT_TRUE((*cuda)->Forward(batch, got).ok());
    for (int s = 0; s < 2; ++s) {
      float largest = 0, worst = 0;
      for (int64_t v = s * vocab; v < (s + 1) * vocab; ++v) {
        largest = std::max(largest, std::abs(want[v]));
        worst = std::max(worst, std::abs(want[v] - got[v]));
      }
      EXPECT_LE(worst, 1e-3f * largest) << shape << " sequence " << s;
    }
  }
}

// Sampled decode steps drawn on the GPU (penalties and bans included, the batch padded to its
// bucket) give the tokens the CPU backend draws from its own logits, but where a draw lands
// within rounding of an edge between two tokens.
TEST(CudaDecodeTest, DrawsOnTheDeviceMatchTheCpu) {
  if (!DeviceAvailable("cuda")) GTEST_SKIP() << "no GPU";
  absl::StatusOr<ModelConfig> config = PublishedShape("mamba-130m");
  ASSERT_TRUE(config.ok());
  config->n_layer = 2;
  std::unique_ptr<Model> model = Model::Random(*config, 17);
  constexpr int kSequences = 9;
  absl::StatusOr<std::unique_ptr<Backend>> cuda =
      MakeBackend(*model, {.device = "cuda", .num_slots = kSequences});
  ASSERT_TRUE(cuda.ok()) << cuda.status();
  absl::StatusOr<std::unique_ptr<Backend>> cpu = MakeBackend(*model, {.num_slots = kSequences});
  ASSERT_TRUE(cpu.ok());
  const std::vector<PenalizedToken> penalized = {
      {.id = 7, .generated = 2}, {.id = 500}, {.id = 1234, .generated = 1}};
  const std::vector<int32_t> banned = {3, 4};
  std::vector<std::vector<int32_t>> tokens(kSequences);
  for (int s = 0; s < kSequences; ++s) tokens[s] = {10 + 101 * s};
  int differ = 0, draws = 0;
  for (int step = 0; step < 6; ++step) {
    std::vector<SequenceInput> batch;
    std::vector<TokenDraw> draw;
    for (int s = 0; s < kSequences; ++s) {
      batch.push_back({s, tokens[s]});
      TokenDraw d{.temperature = 0.5f + 0.1f * s, .top_p = 0.9f, .uniform = (s + 0.5) / 10};
      if (s % 2 == 1) {
        d.repetition_penalty = 1.2f;
        d.presence_penalty = 0.3f;
        d.frequency_penalty = 0.2f;
        d.penalized = penalized;
        d.banned = banned;
      }
      draw.push_back(d);
    }
    std::vector<int32_t> on_cpu(kSequences), on_gpu(kSequences);
    ASSERT_TRUE((*cpu)->ForwardSampled(batch, draw, on_cpu).ok());
    ASSERT_TRUE((*cuda)->ForwardSampled(batch, draw, on_gpu).ok());
    for (int s = 0; s < kSequences; ++s) {
      ++draws;
      differ += on_cpu[s] != on_gpu[s];
      if (s % 2 == 1) {
        EXPECT_TRUE(on_gpu[s] != banned[0] && on_gpu[s] != banned[1]) << "a banned id";
      }
      tokens[s] = {on_cpu[s]};  // both continue from the CPU's token
    }
  }
  EXPECT_LE(differ, 1) << "of " << draws << " draws";
}

TEST(MakeBackendTest, UnknownDeviceOrMissingGpuIsAClearError) {
  absl::StatusOr<ModelConfig> config = PublishedShape("mamba-130m");
  ASSERT_TRUE(config.ok());
  config->n_layer = 1;
  config->vocab_size = 64;
  std::unique_ptr<Model> model = Model::Random(*config, 1);
  absl::StatusOr<std::unique_ptr<Backend>> tpu = MakeBackend(*model, {.device = "tpu"});
  EXPECT_TRUE(absl::IsInvalidArgument(tpu.status())) << tpu.status();
  absl::StatusOr<std::unique_ptr<Backend>> cpu_bf16_state =
      MakeBackend(*model, {.device = "cpu", .bf16_state = true});
  EXPECT_TRUE(absl::IsInvalidArgument(cpu_bf16_state.status())) << cpu_bf16_state.status();
  EXPECT_NE(tpu.status().message().find("tpu"), std::string::npos);
  if (!DeviceAvailable("cuda")) {
    absl::StatusOr<std::unique_ptr<Backend>> cuda = MakeBackend(*model, {.device = "cuda"});
    EXPECT_TRUE(absl::IsFailedPrecondition(cuda.status())) << cuda.status();
  }
}

}  // namespace
}  // namespace ssm
