#ifndef SSM_ENGINE_MODEL_H_
#define SSM_ENGINE_MODEL_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/model_config.h"
#include "engine/safetensors.h"

namespace ssm {

// One Mamba block's tensors. Pointers are null where the architecture or config has no such
// tensor (a Mamba-2 block has no x_proj; a block without biases has no in_proj_bias).
struct LayerWeights {
  const TensorView* norm = nullptr;
  const TensorView* in_proj = nullptr;
  const TensorView* in_proj_bias = nullptr;
  const TensorView* conv = nullptr;  // [channels, 1, kernel] or [channels, kernel]
  const TensorView* conv_bias = nullptr;
  const TensorView* x_proj = nullptr;        // Mamba-1
  const TensorView* dt_proj = nullptr;       // Mamba-1
  const TensorView* dt_proj_bias = nullptr;  // Mamba-1
  const TensorView* dt_bias = nullptr;       // Mamba-2
  const TensorView* A_log = nullptr;
  const TensorView* D = nullptr;
  const TensorView* gated_norm = nullptr;  // Mamba-2
  const TensorView* out_proj = nullptr;
  const TensorView* out_proj_bias = nullptr;
};

struct ModelWeights {
  const TensorView* embedding = nullptr;
  std::vector<LayerWeights> layers;
  const TensorView* norm_f = nullptr;
  const TensorView* lm_head = nullptr;  // the embedding itself when tied
};

// A model description that drives every backend: its config and its validated weights.
// Weights stay in the checkpoint's memory map (or, for random models, in owned memory).
class Model {
 public:
  // Loads a folder with config.json and model.safetensors or model.safetensors.index.json.
  // Every tensor's presence, dtype and shape is checked against the config.
  static absl::StatusOr<std::unique_ptr<Model>> Load(const std::string& dir);

  // A model of the given shape with random fp32 weights at a realistic scale, for benchmarks.
  static std::unique_ptr<Model> Random(const ModelConfig& config, uint64_t seed);

  const ModelConfig& config() const { return config_; }
  const ModelWeights& weights() const { return weights_; }
  int64_t WeightBytes() const;  // as stored
  // Identifies these weights: a CRC over the config and, per tensor, its name, dtype, shape and
  // first and last 4 KiB. Exported sessions carry it, so a state never lands in another model.
  uint64_t Fingerprint() const;

 private:
  Model() = default;
  absl::Status Bind(const std::map<std::string, const TensorView*>& tensors,
                    const std::string& where);

  ModelConfig config_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::vector<std::vector<float>> owned_data_;
  std::vector<std::unique_ptr<TensorView>> owned_views_;
  ModelWeights weights_;
};

}  // namespace ssm

#endif  // SSM_ENGINE_MODEL_H_
