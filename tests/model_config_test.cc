#include "engine/model_config.h"

#include <cmath>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace ssm {
namespace {

using nlohmann::json;

json HfMamba() {
  return {{"model_type", "mamba"}, {"hidden_size", 64},       {"num_hidden_layers", 2},
          {"vocab_size", 256},     {"state_size", 16},        {"conv_kernel", 4},
          {"expand", 2},           {"time_step_rank", "auto"}};
}

json HfMamba2() {
  return {{"model_type", "mamba2"},
          {"hidden_size", 64},
          {"num_hidden_layers", 2},
          {"vocab_size", 256},
          {"state_size", 16},
          {"conv_kernel", 4},
          {"expand", 2},
          {"num_heads", 8},
          {"head_dim", 16},
          {"n_groups", 2},
          {"chunk_size", 32}};
}

void ExpectError(const json& config, const std::string& part) {
  absl::StatusOr<ModelConfig> parsed = ParseModelConfig(config, "cfg.json");
  ASSERT_FALSE(parsed.ok()) << "expected: " << part;
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(parsed.status().message().find(part), std::string::npos) << parsed.status();
  EXPECT_NE(parsed.status().message().find("cfg.json"), std::string::npos) << parsed.status();
}

TEST(ModelConfigTest, ReadsHuggingFaceMamba) {
  absl::StatusOr<ModelConfig> c = ParseModelConfig(HfMamba(), "cfg.json");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->architecture, Architecture::kMamba1);
  EXPECT_EQ(c->naming, WeightNaming::kHuggingFace);
  EXPECT_EQ(c->d_inner, 128);
  EXPECT_EQ(c->dt_rank, 4);  // ceil(64 / 16)
  EXPECT_TRUE(c->tie_embeddings);
  EXPECT_TRUE(c->conv_bias);
  EXPECT_FALSE(c->proj_bias);
  EXPECT_EQ(c->in_proj_size(), 256);
  EXPECT_EQ(c->conv_state_size(), 3 * 128);
  EXPECT_EQ(c->ssm_state_size(), 128 * 16);
}

TEST(ModelConfigTest, ReadsHuggingFaceMamba2WithInfiniteLimit) {
  json j = HfMamba2();
  j["time_step_limit"] = json::array({0.0, {{"__float__", "Infinity"}}});
  absl::StatusOr<ModelConfig> c = ParseModelConfig(j, "cfg.json");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->architecture, Architecture::kMamba2);
  EXPECT_EQ(c->conv_channels(), 128 + 2 * 2 * 16);
  EXPECT_EQ(c->in_proj_size(), 128 + 192 + 8);
  EXPECT_TRUE(std::isinf(c->dt_max));
  EXPECT_EQ(c->dt_min, 0.0f);
}

TEST(ModelConfigTest, ReadsOriginalLayoutAndPadsTheVocabulary) {
  const json j = {{"d_model", 768},      {"n_layer", 24},
                  {"vocab_size", 50277}, {"ssm_cfg", json::object()},
                  {"rms_norm", true},    {"pad_vocab_size_multiple", 8}};
  absl::StatusOr<ModelConfig> c = ParseModelConfig(j, "cfg.json");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->naming, WeightNaming::kOriginal);
  EXPECT_EQ(c->vocab_size, 50280);
  EXPECT_EQ(c->d_state, 16);
  EXPECT_EQ(c->dt_rank, 48);

  json m2 = j;
  m2["ssm_cfg"] = {{"layer", "Mamba2"}, {"ngroups", 1}};
  m2["pad_vocab_size_multiple"] = 16;
  absl::StatusOr<ModelConfig> c2 = ParseModelConfig(m2, "cfg.json");
  ASSERT_TRUE(c2.ok()) << c2.status();
  EXPECT_EQ(c2->architecture, Architecture::kMamba2);
  EXPECT_EQ(c2->vocab_size, 50288);
  EXPECT_EQ(c2->d_state, 128);
  EXPECT_EQ(c2->n_heads, 24);
}

TEST(ModelConfigTest, NamesTheProblem) {
  json j = HfMamba();
  j.erase("hidden_size");
  ExpectError(j, "missing field 'hidden_size'");
  j = HfMamba();
  j["state_size"] = "sixteen";
  ExpectError(j, "'state_size' must be a non-negative integer");
  j = HfMamba();
  j["model_type"] = "llama";
  ExpectError(j, "model_type \"llama\" is not supported");
  j = HfMamba();
  j["hidden_act"] = "gelu";
  ExpectError(j, "hidden_act");
  j = HfMamba2();
  j["num_heads"] = 7;
  ExpectError(j, "num_heads (7) x head_dim (16)");
  j = HfMamba2();
  j["n_groups"] = 3;
  ExpectError(j, "n_groups (3) must divide");
  ExpectError(json{{"foo", 1}}, "neither a Hugging Face config");
  ExpectError(json::array(), "not a JSON object");
  ExpectError(json{{"d_model", 64}, {"n_layer", 2}, {"vocab_size", 10}, {"d_intermediate", 256}},
              "MLP");
}

// Absurd sizes are refused by name before anything multiplies them (found by fuzzing: products
// of such sizes overflowed 64 bits).
TEST(ModelConfigTest, RefusesSizesTooLargeToBeReal) {
  json j = HfMamba();
  j["hidden_size"] = int64_t{1} << 62;
  ExpectError(j, "'hidden_size' is too large");
  j = HfMamba();
  j["hidden_size"] = int64_t{1} << 30;
  j.erase("intermediate_size");
  ExpectError(j, "hidden size 1073741824 is too large (at most 1048576)");
  j = HfMamba();
  j["num_hidden_layers"] = 100000;
  ExpectError(j, "layer count 100000 is too large");
  j = HfMamba2();
  j["num_heads"] = int64_t{1} << 30;
  j["head_dim"] = 1;
  ExpectError(j, "num_heads 1073741824 is too large");
}

TEST(ModelConfigTest, PublishedShapesHaveTheirParameterCounts) {
  absl::StatusOr<ModelConfig> m130 = PublishedShape("mamba-130m");
  ASSERT_TRUE(m130.ok());
  EXPECT_EQ(m130->NumParameters(), 129135360);  // state-spaces/mamba-130m, as HF counts it
  absl::StatusOr<ModelConfig> m2 = PublishedShape("mamba2-2.7b");
  ASSERT_TRUE(m2.ok());
  EXPECT_EQ(m2->architecture, Architecture::kMamba2);
  EXPECT_NEAR(m2->NumParameters() / 1e9, 2.7, 0.1);
  EXPECT_FALSE(PublishedShape("mamba-7b").ok());
}

}  // namespace
}  // namespace ssm
