#include "engine/model.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"

namespace ssm {
namespace {

namespace fs = std::filesystem;
using Shape = std::vector<int64_t>;

std::string ShapeText(const Shape& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

// Checkpoint tensor names, in Hugging Face or original state-spaces spelling.
struct Names {
  explicit Names(WeightNaming naming)
      : embedding(naming == WeightNaming::kOriginal ? "backbone.embedding.weight"
                                                    : "backbone.embeddings.weight") {}
  std::string Layer(int64_t i, const char* leaf) const {
    return absl::StrCat("backbone.layers.", i, ".", leaf);
  }
  std::string embedding;
  std::string norm_f = "backbone.norm_f.weight";
  std::string lm_head = "lm_head.weight";
};

// Every tensor the config calls for, with its expected shape. One table serves loading
// (validation) and random initialization, so the two cannot drift apart.
struct Expected {
  std::string name;
  Shape shape;
  const TensorView** slot;
  bool conv = false;  // also accepts [channels, kernel]
};

std::vector<Expected> ExpectedTensors(const ModelConfig& c, ModelWeights& w) {
  const Names names(c.naming);
  std::vector<Expected> list;
  list.push_back({names.embedding, {c.vocab_size, c.d_model}, &w.embedding});
  w.layers.assign(c.n_layer, LayerWeights{});
  const bool m1 = c.architecture == Architecture::kMamba1;
  for (int64_t i = 0; i < c.n_layer; ++i) {
    LayerWeights& l = w.layers[i];
    auto mixer = [&](const char* leaf) {
      return names.Layer(i, absl::StrCat("mixer.", leaf).c_str());
    };
    list.push_back({names.Layer(i, "norm.weight"), {c.d_model}, &l.norm});
    list.push_back({mixer("in_proj.weight"), {c.in_proj_size(), c.d_model}, &l.in_proj});
    if (c.proj_bias) list.push_back({mixer("in_proj.bias"), {c.in_proj_size()}, &l.in_proj_bias});
    list.push_back({mixer("conv1d.weight"), {c.conv_channels(), 1, c.d_conv}, &l.conv, true});
    if (c.conv_bias) list.push_back({mixer("conv1d.bias"), {c.conv_channels()}, &l.conv_bias});
    if (m1) {
      list.push_back({mixer("x_proj.weight"), {c.dt_rank + 2 * c.d_state, c.d_inner}, &l.x_proj});
      list.push_back({mixer("dt_proj.weight"), {c.d_inner, c.dt_rank}, &l.dt_proj});
      list.push_back({mixer("dt_proj.bias"), {c.d_inner}, &l.dt_proj_bias});
      list.push_back({mixer("A_log"), {c.d_inner, c.d_state}, &l.A_log});
      list.push_back({mixer("D"), {c.d_inner}, &l.D});
    } else {
      list.push_back({mixer("dt_bias"), {c.n_heads}, &l.dt_bias});
      list.push_back({mixer("A_log"), {c.n_heads}, &l.A_log});
      list.push_back({mixer("D"), {c.n_heads}, &l.D});
      list.push_back({mixer("norm.weight"), {c.d_inner}, &l.gated_norm});
    }
    list.push_back({mixer("out_proj.weight"), {c.d_model, c.d_inner}, &l.out_proj});
    if (c.proj_bias) list.push_back({mixer("out_proj.bias"), {c.d_model}, &l.out_proj_bias});
  }
  list.push_back({names.norm_f, {c.d_model}, &w.norm_f});
  if (!c.tie_embeddings) list.push_back({names.lm_head, {c.vocab_size, c.d_model}, &w.lm_head});
  return list;
}

absl::StatusOr<nlohmann::json> ReadJson(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path.string(), ": cannot open"));
  nlohmann::json json = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(path.string(), ": not valid JSON"));
  }
  return json;
}

// The shard files named by a model.safetensors.index.json, in a stable order.
absl::StatusOr<std::vector<std::string>> ShardsFromIndex(const fs::path& index_path) {
  absl::StatusOr<nlohmann::json> index = ReadJson(index_path);
  if (!index.ok()) return index.status();
  if (!index->contains("weight_map") || !(*index)["weight_map"].is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(index_path.string(), ": missing the \"weight_map\" object"));
  }
  std::set<std::string> shards;
  for (const auto& [tensor, file] : (*index)["weight_map"].items()) {
    if (!file.is_string() || file.get<std::string>().find('/') != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          index_path.string(), ": weight_map entry for '", tensor, "' is not a file name"));
    }
    shards.insert(file.get<std::string>());
  }
  return std::vector<std::string>(shards.begin(), shards.end());
}

// Fills `data` with draws of `distribution`, in blocks that each have their own generator seeded
// by (seed, tensor, block), so that blocks fill in parallel and the values do not depend on the
// number of threads. A multi-billion-parameter model otherwise takes minutes to make.
template <typename Distribution>
void FillRandom(std::vector<float>& data, uint64_t seed, uint64_t tensor,
                const Distribution& distribution) {
  constexpr int64_t kBlock = 1 << 16;
  const int64_t blocks = (static_cast<int64_t>(data.size()) + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static)
  for (int64_t block = 0; block < blocks; ++block) {
    std::seed_seq seeds{seed, tensor, static_cast<uint64_t>(block)};
    std::mt19937_64 rng(seeds);
    Distribution draw = distribution;
    const int64_t end = std::min<int64_t>(data.size(), (block + 1) * kBlock);
    for (int64_t i = block * kBlock; i < end; ++i) data[i] = draw(rng);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<Model>> Model::Load(const std::string& dir) {
  const fs::path root(dir);
  if (!fs::is_directory(root)) {
    return absl::NotFoundError(absl::StrCat(dir, ": not a model folder (no such directory)"));
  }
  absl::StatusOr<nlohmann::json> config_json = ReadJson(root / "config.json");
  if (!config_json.ok()) return config_json.status();
  absl::StatusOr<ModelConfig> config =
      ParseModelConfig(*config_json, (root / "config.json").string());
  if (!config.ok()) return config.status();

  std::unique_ptr<Model> model(new Model());
  model->config_ = *config;
  std::vector<std::string> files;
  std::string where;
  if (fs::exists(root / "model.safetensors.index.json")) {
    absl::StatusOr<std::vector<std::string>> shards =
        ShardsFromIndex(root / "model.safetensors.index.json");
    if (!shards.ok()) return shards.status();
    files = *shards;
    where = (root / "model.safetensors.index.json").string();
  } else if (fs::exists(root / "model.safetensors")) {
    files = {"model.safetensors"};
    where = (root / "model.safetensors").string();
  } else {
    return absl::NotFoundError(
        absl::StrCat(dir, ": has neither model.safetensors nor model.safetensors.index.json"));
  }

  std::map<std::string, const TensorView*> tensors;
  for (const std::string& file : files) {
    absl::StatusOr<std::unique_ptr<SafetensorsFile>> opened =
        SafetensorsFile::Open((root / file).string());
    if (!opened.ok()) return opened.status();
    for (const auto& [name, view] : (*opened)->tensors()) tensors[name] = &view;
    model->files_.push_back(*std::move(opened));
  }
  if (absl::Status status = model->Bind(tensors, where); !status.ok()) return status;
  return model;
}

absl::Status Model::Bind(const std::map<std::string, const TensorView*>& tensors,
                         const std::string& where) {
  for (const Expected& e : ExpectedTensors(config_, weights_)) {
    auto it = tensors.find(e.name);
    if (it == tensors.end()) {
      return absl::NotFoundError(
          absl::StrCat(where, ": tensor '", e.name, "' is missing (the config calls for it)"));
    }
    const TensorView& t = *it->second;
    const bool matches = t.shape == e.shape || (e.conv && t.shape == Shape{e.shape[0], e.shape[2]});
    if (!matches) {
      return absl::InvalidArgumentError(absl::StrCat(t.file, ": tensor '", e.name, "' has shape ",
                                                     t.ShapeString(), ", expected ",
                                                     ShapeText(e.shape), " from the config"));
    }
    *e.slot = &t;
  }
  if (config_.tie_embeddings) weights_.lm_head = weights_.embedding;
  return absl::OkStatus();
}

std::unique_ptr<Model> Model::Random(const ModelConfig& config, uint64_t seed) {
  std::unique_ptr<Model> model(new Model());
  model->config_ = config;
  std::map<std::string, const TensorView*> tensors;
  ModelWeights scratch;  // only to enumerate names and shapes
  uint64_t tensor_index = 0;
  for (const Expected& e : ExpectedTensors(config, scratch)) {
    int64_t count = 1;
    for (int64_t d : e.shape) count *= d;
    std::vector<float>& data = model->owned_data_.emplace_back(count);
    const std::string& n = e.name;
    const uint64_t tensor = tensor_index++;
    auto ends_with = [&](std::string_view suffix) { return n.ends_with(suffix); };
    if (ends_with("A_log")) {
      FillRandom(data, seed, tensor, std::uniform_real_distribution<float>(1.0f, 16.0f));
      for (float& v : data) v = std::log(v);
    } else if (ends_with("dt_bias") || ends_with("dt_proj.bias")) {
      FillRandom(data, seed, tensor,
                 std::uniform_real_distribution<float>(std::log(1e-3f), std::log(1e-1f)));
      for (float& v : data) {
        const float dt = std::exp(v);
        v = dt + std::log(-std::expm1(-dt));  // inverse softplus
      }
    } else if (ends_with("norm.weight") || ends_with("norm_f.weight") || ends_with(".D")) {
      std::fill(data.begin(), data.end(), 1.0f);
    } else if (ends_with("bias")) {
      std::fill(data.begin(), data.end(), 0.0f);
    } else {
      const float fan_in = static_cast<float>(e.shape.back());
      FillRandom(data, seed, tensor,
                 std::normal_distribution<float>(
                     0.0f, n == Names(config.naming).embedding ? 1.0f : 1.0f / std::sqrt(fan_in)));
    }
    auto view = std::make_unique<TensorView>(
        TensorView{.name = e.name,
                   .file = "<random>",
                   .dtype = DType::kF32,
                   .shape = e.shape,
                   .bytes = std::as_bytes(std::span<const float>(data))});
    tensors[e.name] = view.get();
    model->owned_views_.push_back(std::move(view));
  }
  // Binding cannot fail: every tensor was made from the table it is checked against.
  if (absl::Status status = model->Bind(tensors, "<random>"); !status.ok()) {
    std::fprintf(stderr, "Model::Random: %s\n", status.ToString().c_str());
    std::abort();
  }
  return model;
}

uint64_t Model::Fingerprint() const {
  auto add = [](uLong crc, std::string_view bytes) {
    return crc32(crc, reinterpret_cast<const Bytef*>(bytes.data()),
                 static_cast<uInt>(bytes.size()));
  };
  uLong crc = add(0L, config_.Describe());
  std::vector<const TensorView*> tensors = {weights_.embedding, weights_.norm_f, weights_.lm_head};
  for (const LayerWeights& l : weights_.layers) {
    for (const TensorView* t :
         {l.norm, l.in_proj, l.in_proj_bias, l.conv, l.conv_bias, l.x_proj, l.dt_proj,
          l.dt_proj_bias, l.dt_bias, l.A_log, l.D, l.gated_norm, l.out_proj, l.out_proj_bias}) {
      tensors.push_back(t);
    }
  }
  constexpr size_t kEdge = 4096;
  for (const TensorView* t : tensors) {
    if (t == nullptr) continue;
    crc = add(crc, absl::StrCat(t->name, DTypeName(t->dtype), t->ShapeString()));
    const std::string_view bytes(reinterpret_cast<const char*>(t->bytes.data()), t->bytes.size());
    crc = add(crc, bytes.substr(0, kEdge));
    crc = add(crc, bytes.substr(bytes.size() - std::min(bytes.size(), kEdge)));
  }
  return crc;
}

int64_t Model::WeightBytes() const {
  int64_t bytes = 0;
  for (const auto& file : files_) {
    for (const auto& [name, view] : file->tensors()) bytes += view.bytes.size();
  }
  for (const auto& data : owned_data_) bytes += data.size() * sizeof(float);
  return bytes;
}

}  // namespace ssm
