// Model::Load on good folders and on each way a folder can be broken.
#include <omp.h>

#include <filesystem>
#include <span>
#include <vector>

#include "engine/model.h"
#include "gtest/gtest.h"
#include "tests/support/fixtures.h"
#include "tests/support/safetensors_writer.h"

namespace ssm {
namespace {

namespace fs = std::filesystem;
using testing::CopyFixture;

// Rewrites dir/model.safetensors after `edit` changed its tensor list.
void RewriteWeights(const std::string& dir,
                    const std::function<void(std::vector<testing::TensorToWrite>&)>& edit) {
  const std::string path = dir + "/model.safetensors";
  std::vector<testing::TensorToWrite> tensors;
  {
    absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::Open(path);
    ASSERT_TRUE(file.ok()) << file.status();
    for (const auto& [name, view] : (*file)->tensors()) tensors.push_back(testing::CopyOf(view));
  }
  edit(tensors);
  testing::WriteFile(path, testing::SafetensorsImage(tensors));
}

void ExpectLoadFails(const std::string& dir, absl::StatusCode code,
                     const std::vector<std::string>& parts) {
  absl::StatusOr<std::unique_ptr<Model>> model = Model::Load(dir);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), code) << model.status();
  for (const std::string& part : parts) {
    EXPECT_NE(model.status().message().find(part), std::string::npos)
        << "message lacks '" << part << "': " << model.status();
  }
}

TEST(ModelLoadingTest, LoadsEveryFixture) {
  for (const std::string& name : testing::FixtureNames()) {
    absl::StatusOr<std::unique_ptr<Model>> model = Model::Load(testing::FixturePath(name));
    ASSERT_TRUE(model.ok()) << name << ": " << model.status();
    EXPECT_EQ((*model)->weights().layers.size(), size_t((*model)->config().n_layer));
    EXPECT_NE((*model)->weights().lm_head, nullptr);
  }
}

TEST(ModelLoadingTest, TiedModelsShareTheEmbedding) {
  absl::StatusOr<std::unique_ptr<Model>> model =
      Model::Load(testing::FixturePath("mamba1_tied_k4_f32"));
  ASSERT_TRUE(model.ok());
  EXPECT_EQ((*model)->weights().lm_head, (*model)->weights().embedding);
}

TEST(ModelLoadingTest, KeepsStorageDTypes) {
  absl::StatusOr<std::unique_ptr<Model>> bf16 = Model::Load(testing::FixturePath("mamba2_g2_bf16"));
  absl::StatusOr<std::unique_ptr<Model>> f16 =
      Model::Load(testing::FixturePath("mamba1_untied_k3_f16_sharded"));
  ASSERT_TRUE(bf16.ok() && f16.ok());
  EXPECT_EQ((*bf16)->weights().layers[0].in_proj->dtype, DType::kBF16);
  EXPECT_EQ((*f16)->weights().layers[1].out_proj->dtype, DType::kF16);
}

TEST(ModelLoadingTest, MissingTensorIsNamed) {
  const std::string dir = CopyFixture("mamba1_tied_k4_f32", "missing_tensor");
  RewriteWeights(dir, [](auto& tensors) {
    std::erase_if(tensors, [](const auto& t) { return t.name == "backbone.layers.1.mixer.D"; });
  });
  ExpectLoadFails(dir, absl::StatusCode::kNotFound,
                  {"'backbone.layers.1.mixer.D' is missing", "model.safetensors"});
}

TEST(ModelLoadingTest, UntiedModelWithoutLmHeadFails) {
  const std::string dir = CopyFixture("mamba2_g2_untied_bias_f32", "missing_lm_head");
  RewriteWeights(dir, [](auto& tensors) {
    std::erase_if(tensors, [](const auto& t) { return t.name == "lm_head.weight"; });
  });
  ExpectLoadFails(dir, absl::StatusCode::kNotFound, {"'lm_head.weight' is missing"});
}

TEST(ModelLoadingTest, WrongShapeIsNamedWithBothShapes) {
  const std::string dir = CopyFixture("mamba2_g1_f32", "wrong_shape");
  RewriteWeights(dir, [](auto& tensors) {
    for (auto& t : tensors) {
      if (t.name == "backbone.layers.0.mixer.out_proj.weight") std::swap(t.shape[0], t.shape[1]);
    }
  });
  ExpectLoadFails(dir, absl::StatusCode::kInvalidArgument,
                  {"'backbone.layers.0.mixer.out_proj.weight' has shape [128, 64]",
                   "expected [64, 128]", "model.safetensors"});
}

TEST(ModelLoadingTest, UnknownDTypeIsNamed) {
  const std::string dir = CopyFixture("mamba1_tied_k4_f32", "unknown_dtype");
  RewriteWeights(dir, [](auto& tensors) {
    for (auto& t : tensors) {
      if (t.name == "backbone.norm_f.weight") t.dtype = "I32";
    }
  });
  ExpectLoadFails(dir, absl::StatusCode::kInvalidArgument,
                  {"'backbone.norm_f.weight' has dtype I32", "model.safetensors"});
}

TEST(ModelLoadingTest, TruncatedFileIsReported) {
  const std::string dir = CopyFixture("mamba1_tied_k4_f32", "truncated");
  const std::string path = dir + "/model.safetensors";
  fs::resize_file(path, fs::file_size(path) / 2);
  ExpectLoadFails(dir, absl::StatusCode::kDataLoss, {"model.safetensors", "truncated"});
}

TEST(ModelLoadingTest, CorruptHeaderIsReported) {
  const std::string dir = CopyFixture("mamba1_tied_k4_f32", "corrupt");
  std::string image = testing::ReadFile(dir + "/model.safetensors");
  image[12] = '!';  // inside the JSON header
  testing::WriteFile(dir + "/model.safetensors", image);
  ExpectLoadFails(dir, absl::StatusCode::kDataLoss, {"model.safetensors", "not a valid"});
}

TEST(ModelLoadingTest, MissingShardIsReported) {
  const std::string dir = CopyFixture("mamba1_untied_k3_f16_sharded", "missing_shard");
  fs::remove(dir + "/model-00003-of-00006.safetensors");
  ExpectLoadFails(dir, absl::StatusCode::kNotFound, {"model-00003-of-00006.safetensors"});
}

TEST(ModelLoadingTest, BadIndexIsReported) {
  const std::string dir = CopyFixture("mamba1_untied_k3_f16_sharded", "bad_index");
  testing::WriteFile(dir + "/model.safetensors.index.json", R"({"metadata": {}})");
  ExpectLoadFails(dir, absl::StatusCode::kInvalidArgument, {"weight_map"});
  testing::WriteFile(dir + "/model.safetensors.index.json", R"({"weight_map": {"a": "../x"}})");
  ExpectLoadFails(dir, absl::StatusCode::kInvalidArgument, {"not a file name"});
}

TEST(ModelLoadingTest, FolderProblemsAreReported) {
  ExpectLoadFails("/nonexistent/model", absl::StatusCode::kNotFound, {"no such directory"});
  const std::string no_config = CopyFixture("mamba1_tied_k4_f32", "no_config");
  fs::remove(no_config + "/config.json");
  ExpectLoadFails(no_config, absl::StatusCode::kNotFound, {"config.json"});
  const std::string no_weights = CopyFixture("mamba1_tied_k4_f32", "no_weights");
  fs::remove(no_weights + "/model.safetensors");
  ExpectLoadFails(no_weights, absl::StatusCode::kNotFound, {"neither model.safetensors"});
  const std::string bad_config = CopyFixture("mamba1_tied_k4_f32", "bad_config");
  testing::WriteFile(bad_config + "/config.json", "{ not json");
  ExpectLoadFails(bad_config, absl::StatusCode::kInvalidArgument,
                  {"config.json", "not valid JSON"});
}

TEST(ModelLoadingTest, RandomModelHasThePublishedShape) {
  absl::StatusOr<ModelConfig> config = PublishedShape("mamba2-130m");
  ASSERT_TRUE(config.ok());
  config->n_layer = 2;  // keep the test small
  const std::unique_ptr<Model> model = Model::Random(*config, 7);
  EXPECT_EQ(model->weights().layers[1].gated_norm->shape, std::vector<int64_t>{1536});
  EXPECT_EQ(model->WeightBytes(), config->NumParameters() * 4);
}

// Random weights are filled in parallel; they must not depend on the number of threads, and
// they must depend on the seed.
TEST(ModelLoadingTest, RandomModelDependsOnTheSeedAndNotOnThreads) {
  absl::StatusOr<ModelConfig> config = PublishedShape("mamba-130m");
  ASSERT_TRUE(config.ok());
  config->n_layer = 1;
  auto in_proj = [](const Model& model) {
    const std::span<const std::byte> bytes = model.weights().layers[0].in_proj->bytes;
    return std::vector<std::byte>(bytes.begin(), bytes.end());
  };
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const std::vector<std::byte> one_thread = in_proj(*Model::Random(*config, 3));
  omp_set_num_threads(4);
  const std::vector<std::byte> four_threads = in_proj(*Model::Random(*config, 3));
  omp_set_num_threads(threads);
  EXPECT_GT(one_thread.size(), size_t{1} << 20);  // several blocks of the parallel fill
  EXPECT_TRUE(one_thread == four_threads);
  EXPECT_FALSE(one_thread == in_proj(*Model::Random(*config, 4)));
}

}  // namespace
}  // namespace ssm
