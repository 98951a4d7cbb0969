#ifndef SSM_ENGINE_MODEL_CONFIG_H_
#define SSM_ENGINE_MODEL_CONFIG_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json_fwd.hpp"

namespace ssm {

enum class Architecture { kMamba1, kMamba2 };

// Which tensor names the checkpoint uses: Hugging Face's (backbone.embeddings.weight) or the
// original state-spaces/mamba-* ones (backbone.embedding.weight).
enum class WeightNaming { kHuggingFace, kOriginal };

// The shape of a Mamba-1 or Mamba-2 language model, whichever config.json it came from.
struct ModelConfig {
  Architecture architecture = Architecture::kMamba1;
  WeightNaming naming = WeightNaming::kHuggingFace;
  int64_t vocab_size = 0;  // rows of the embedding (already padded for original checkpoints)
  int64_t d_model = 0;
  int64_t n_layer = 0;
  int64_t d_inner = 0;
  int64_t d_state = 0;
  int64_t d_conv = 0;
  bool proj_bias = false;  // in_proj and out_proj biases
  bool conv_bias = true;
  bool tie_embeddings = true;
  float norm_eps = 1e-5f;
  std::vector<int32_t> eos_token_ids;  // config.json's eos_token_id (a number or a list), if any

  // Mamba-1 only.
  int64_t dt_rank = 0;

  // Mamba-2 only.
  int64_t n_heads = 0;
  int64_t head_dim = 0;
  int64_t n_groups = 0;
  int64_t chunk_size = 0;
  float dt_min = 0.0f;  // dt is clamped to [dt_min, dt_max] after softplus
  float dt_max = 0.0f;

  // Channels the causal conv runs over: x (Mamba-1), or x, B and C (Mamba-2).
  int64_t conv_channels() const;
  // Output width of in_proj: [x, z] (Mamba-1) or [z, xBC, dt] (Mamba-2).
  int64_t in_proj_size() const;
  // Per layer recurrent state, in elements.
  int64_t conv_state_size() const { return (d_conv - 1) * conv_channels(); }
  int64_t ssm_state_size() const { return d_inner * d_state; }
  int64_t NumParameters() const;
  std::string Describe() const;  // one line for logs
};

// Reads a config.json object in Hugging Face (model_type "mamba" / "mamba2") or original
// state-spaces layout. `source` names the file in error messages.
absl::StatusOr<ModelConfig> ParseModelConfig(const nlohmann::json& json, const std::string& source);
absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& path);

// The published shapes, for benchmarks with random weights: "mamba-130m" ... "mamba-2.8b",
// "mamba2-130m" ... "mamba2-2.7b".
absl::StatusOr<ModelConfig> PublishedShape(const std::string& name);

}  // namespace ssm

#endif  // SSM_ENGINE_MODEL_CONFIG_H_
