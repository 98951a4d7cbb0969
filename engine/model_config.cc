#include "engine/model_config.h"

#include <cmath>
#include <fstream>
#include <limits>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace ssm {
namespace {

using nlohmann::json;

// Reads typed fields of one JSON object and remembers the first problem, so a parser can read
// all fields in a row and check once.
class FieldReader {
 public:
  FieldReader(const json& object, std::string source)
      : object_(object), source_(std::move(source)) {}

  int64_t Int(const char* key, std::optional<int64_t> fallback = std::nullopt) {
    const json* value = Lookup(key, fallback.has_value());
    if (value == nullptr) return fallback.value_or(0);
    if (!value->is_number_integer() || value->get<int64_t>() < 0) {
      Fail(absl::StrCat("field '", key, "' must be a non-negative integer, got ", value->dump()));
      return 0;
    }
    // Every size is far below this; a product of two such values stays inside 64 bits.
    if (value->get<int64_t>() > std::numeric_limits<int32_t>::max()) {
      Fail(absl::StrCat("field '", key, "' is too large, got ", value->dump()));
      return 0;
    }
    return value->get<int64_t>();
  }

  bool Bool(const char* key, bool fallback) {
    const json* value = Lookup(key, true);
    if (value == nullptr) return fallback;
    if (!value->is_boolean()) {
      Fail(absl::StrCat("field '", key, "' must be true or false, got ", value->dump()));
      return fallback;
    }
    return value->get<bool>();
  }

  // Numbers, including Python's infinities as transformers writes them ({"__float__": "Infinity"}).
  double Number(const json& value, const char* key) {
    if (value.is_number()) return value.get<double>();
    const json* text = &value;
    if (value.is_object() && value.contains("__float__")) text = &value["__float__"];
    if (text->is_string()) {
      const std::string s = text->get<std::string>();
      if (s == "Infinity" || s == "inf") return std::numeric_limits<double>::infinity();
      if (s == "-Infinity" || s == "-inf") return -std::numeric_limits<double>::infinity();
    }
    Fail(absl::StrCat("field '", key, "' must be a number, got ", value.dump()));
    return 0;
  }

  double Number(const char* key, double fallback) {
    const json* value = Lookup(key, true);
    return value == nullptr ? fallback : Number(*value, key);
  }

  // "auto" -> fallback; otherwise an integer.
  int64_t IntOrAuto(const char* key, int64_t automatic) {
    const json* value = Lookup(key, true);
    if (value == nullptr || (value->is_string() && value->get<std::string>() == "auto")) {
      return automatic;
    }
    return Int(key);
  }

  std::string String(const char* key, const char* fallback) {
    const json* value = Lookup(key, true);
    if (value == nullptr) return fallback;
    if (!value->is_string()) {
      Fail(absl::StrCat("field '", key, "' must be a string, got ", value->dump()));
      return fallback;
    }
    return value->get<std::string>();
  }

  const json* Lookup(const char* key, bool optional) {
    auto it = object_.find(key);
    if (it == object_.end() || it->is_null()) {
      if (!optional) Fail(absl::StrCat("missing field '", key, "'"));
      return nullptr;
    }
    return &*it;
  }

  void Fail(std::string message) {
    if (status_.ok()) status_ = absl::InvalidArgumentError(absl::StrCat(source_, ": ", message));
  }
  const absl::Status& status() const { return status_; }

 private:
  const json& object_;
  std::string source_;
  absl::Status status_;
};

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

void ReadHuggingFace(FieldReader& f, Architecture architecture, ModelConfig& c) {
  c.d_model = f.Int("hidden_size");
  c.n_layer = f.Int("num_hidden_layers");
  c.vocab_size = f.Int("vocab_size");
  c.d_state = f.Int("state_size");
  c.d_conv = f.Int("conv_kernel");
  const int64_t expand = f.Int("expand", 2);
  c.proj_bias = f.Bool("use_bias", false);
  c.conv_bias = f.Bool("use_conv_bias", true);
  c.tie_embeddings = f.Bool("tie_word_embeddings", true);
  c.norm_eps = static_cast<float>(f.Number("layer_norm_epsilon", 1e-5));
  if (f.String("hidden_act", "silu") != "silu") f.Fail("only hidden_act \"silu\" is supported");
  if (architecture == Architecture::kMamba1) {
    c.d_inner = f.Int("intermediate_size", expand * c.d_model);
    c.dt_rank = f.IntOrAuto("time_step_rank", CeilDiv(c.d_model, 16));
    return;
  }
  c.d_inner = expand * c.d_model;
  c.n_heads = f.Int("num_heads");
  c.head_dim = f.Int("head_dim");
  c.n_groups = f.Int("n_groups", 1);
  c.chunk_size = f.Int("chunk_size", 256);
  c.dt_min = 0.0f;
  c.dt_max = std::numeric_limits<float>::infinity();
  if (const json* limit = f.Lookup("time_step_limit", true)) {
    if (!limit->is_array() || limit->size() != 2) {
      f.Fail("field 'time_step_limit' must be [min, max]");
    } else {
      c.dt_min = static_cast<float>(f.Number((*limit)[0], "time_step_limit"));
      c.dt_max = static_cast<float>(f.Number((*limit)[1], "time_step_limit"));
    }
  }
}

void ReadOriginal(FieldReader& f, ModelConfig& c) {
  c.naming = WeightNaming::kOriginal;
  c.d_model = f.Int("d_model");
  c.n_layer = f.Int("n_layer");
  const int64_t pad = f.Int("pad_vocab_size_multiple", 8);
  c.vocab_size = CeilDiv(f.Int("vocab_size"), pad == 0 ? 1 : pad) * (pad == 0 ? 1 : pad);
  c.tie_embeddings = f.Bool("tie_embeddings", true);
  c.norm_eps = static_cast<float>(f.Number("norm_epsilon", 1e-5));
  if (!f.Bool("rms_norm", true)) f.Fail("only rms_norm=true checkpoints are supported");
  if (f.Int("d_intermediate", 0) != 0) f.Fail("d_intermediate > 0 (MLP blocks) is not supported");

  static const json kEmpty = json::object();
  const json* ssm_cfg = f.Lookup("ssm_cfg", true);
  FieldReader s(ssm_cfg != nullptr ? *ssm_cfg : kEmpty, "ssm_cfg");
  const bool mamba2 = s.String("layer", "Mamba1") == "Mamba2";
  c.architecture = mamba2 ? Architecture::kMamba2 : Architecture::kMamba1;
  c.d_state = s.Int("d_state", mamba2 ? 128 : 16);
  c.d_conv = s.Int("d_conv", 4);
  c.d_inner = s.Int("expand", 2) * c.d_model;
  c.conv_bias = s.Bool("conv_bias", true);
  c.proj_bias = s.Bool("bias", false);
  if (mamba2) {
    c.head_dim = s.Int("headdim", 64);
    c.n_heads = c.head_dim == 0 ? 0 : c.d_inner / c.head_dim;
    c.n_groups = s.Int("ngroups", 1);
    c.chunk_size = s.Int("chunk_size", 256);
    c.dt_min = 0.0f;
    c.dt_max = std::numeric_limits<float>::infinity();
    if (const json* limit = s.Lookup("dt_limit", true); limit != nullptr && limit->size() == 2) {
      c.dt_min = static_cast<float>(s.Number((*limit)[0], "dt_limit"));
      c.dt_max = static_cast<float>(s.Number((*limit)[1], "dt_limit"));
    }
    if (s.Bool("norm_before_gate", false)) s.Fail("norm_before_gate=true is not supported");
    if (!s.Bool("rmsnorm", true)) s.Fail("rmsnorm=false is not supported");
  } else {
    c.dt_rank = s.IntOrAuto("dt_rank", CeilDiv(c.d_model, 16));
  }
  if (!s.status().ok()) f.Fail(std::string(s.status().message()));
}

absl::Status Validate(const ModelConfig& c, const std::string& source) {
  auto invalid = [&](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", what));
  };
  if (c.d_model <= 0 || c.n_layer <= 0 || c.vocab_size <= 0 || c.d_inner <= 0 || c.d_state <= 0) {
    return invalid("hidden size, layers, vocab size, inner size and state size must be positive");
  }
  // Bounds far past any real model, so that the sizes derived from these (parameters, state)
  // stay inside 64 bits.
  struct Bound {
    const char* what;
    int64_t value, limit;
  };
  for (const Bound& b :
       {Bound{"hidden size", c.d_model, 1 << 20}, Bound{"inner size", c.d_inner, 1 << 20},
        Bound{"vocab size", c.vocab_size, 1 << 24}, Bound{"layer count", c.n_layer, 1 << 12},
        Bound{"state size", c.d_state, 1 << 12}, Bound{"time_step_rank", c.dt_rank, 1 << 20},
        Bound{"num_heads", c.n_heads, 1 << 20}, Bound{"head_dim", c.head_dim, 1 << 20},
        Bound{"n_groups", c.n_groups, 1 << 12}}) {
    if (b.value > b.limit) {
      return invalid(absl::StrCat(b.what, " ", b.value, " is too large (at most ", b.limit, ")"));
    }
  }
  if (c.d_conv < 2 || c.d_conv > 8) return invalid("conv kernel must be between 2 and 8");
  if (c.architecture == Architecture::kMamba1) {
    if (c.dt_rank <= 0) return invalid("time_step_rank must be positive");
    return absl::OkStatus();
  }
  if (c.n_heads <= 0 || c.head_dim <= 0 || c.n_heads * c.head_dim != c.d_inner) {
    return invalid(absl::StrCat("num_heads (", c.n_heads, ") x head_dim (", c.head_dim,
                                ") must equal expand x hidden_size (", c.d_inner, ")"));
  }
  if (c.n_groups <= 0 || c.n_heads % c.n_groups != 0) {
    return invalid(
        absl::StrCat("n_groups (", c.n_groups, ") must divide num_heads (", c.n_heads, ")"));
  }
  if (!(c.dt_min <= c.dt_max)) return invalid("time_step_limit must be [min, max] with min <= max");
  return absl::OkStatus();
}

}  // namespace

int64_t ModelConfig::conv_channels() const {
  return architecture == Architecture::kMamba1 ? d_inner : d_inner + 2 * n_groups * d_state;
}

int64_t ModelConfig::in_proj_size() const {
  return architecture == Architecture::kMamba1 ? 2 * d_inner : d_inner + conv_channels() + n_heads;
}

int64_t ModelConfig::NumParameters() const {
  int64_t per_layer =
      d_model + in_proj_size() * d_model + conv_channels() * d_conv + d_inner * d_model;
  if (conv_bias) per_layer += conv_channels();
  if (proj_bias) per_layer += in_proj_size() + d_model;
  if (architecture == Architecture::kMamba1) {
    per_layer += d_inner * (dt_rank + 2 * d_state) + dt_rank * d_inner + d_inner +
                 d_inner * d_state + d_inner;
  } else {
    per_layer += 3 * n_heads + d_inner;
  }
  const int64_t heads = tie_embeddings ? 1 : 2;
  return n_layer * per_layer + heads * vocab_size * d_model + d_model;
}

std::string ModelConfig::Describe() const {
  std::string text = absl::StrCat(architecture == Architecture::kMamba1 ? "mamba" : "mamba2",
                                  " d_model=", d_model, " n_layer=", n_layer, " vocab=", vocab_size,
                                  " d_inner=", d_inner, " d_state=", d_state, " d_conv=", d_conv);
  if (architecture == Architecture::kMamba2) {
    absl::StrAppend(&text, " heads=", n_heads, "x", head_dim, " groups=", n_groups);
  }
  return text;
}

absl::StatusOr<ModelConfig> ParseModelConfig(const json& object, const std::string& source) {
  if (!object.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": not a JSON object"));
  }
  ModelConfig config;
  FieldReader fields(object, std::string(source));
  if (object.contains("model_type")) {
    const std::string type = fields.String("model_type", "");
    if (type == "mamba") {
      ReadHuggingFace(fields, Architecture::kMamba1, config);
    } else if (type == "mamba2") {
      config.architecture = Architecture::kMamba2;
      ReadHuggingFace(fields, Architecture::kMamba2, config);
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          source, ": model_type \"", type, "\" is not supported (expected mamba or mamba2)"));
    }
  } else if (object.contains("d_model")) {
    ReadOriginal(fields, config);
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": neither a Hugging Face config (model_type) nor a state-spaces one (d_model)"));
  }
  if (const json* eos = fields.Lookup("eos_token_id", true)) {
    for (const json& id : eos->is_array() ? *eos : json::array({*eos})) {
      if (!id.is_number_integer()) {
        fields.Fail("field 'eos_token_id' must be an integer or a list of integers");
      } else {
        config.eos_token_ids.push_back(id.get<int32_t>());
      }
    }
  }
  if (!fields.status().ok()) return fields.status();
  if (absl::Status status = Validate(config, source); !status.ok()) return status;
  return config;
}

absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  const json object = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (object.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not valid JSON"));
  }
  return ParseModelConfig(object, path);
}

absl::StatusOr<ModelConfig> PublishedShape(const std::string& name) {
  struct Shape {
    const char* name;
    int64_t d_model, n_layer;
  };
  // state-spaces/mamba-* and mamba2-* on the Hugging Face hub.
  static constexpr Shape kMamba1[] = {{"mamba-130m", 768, 24},
                                      {"mamba-370m", 1024, 48},
                                      {"mamba-790m", 1536, 48},
                                      {"mamba-1.4b", 2048, 48},
                                      {"mamba-2.8b", 2560, 64}};
  static constexpr Shape kMamba2[] = {{"mamba2-130m", 768, 24},
                                      {"mamba2-370m", 1024, 48},
                                      {"mamba2-780m", 1536, 48},
                                      {"mamba2-1.3b", 2048, 48},
                                      {"mamba2-2.7b", 2560, 64}};
  auto make = [](const Shape& shape, bool mamba2) {
    json config = {{"d_model", shape.d_model},
                   {"n_layer", shape.n_layer},
                   {"vocab_size", 50277},
                   {"pad_vocab_size_multiple", mamba2 ? 16 : 8},
                   {"ssm_cfg", json::object()}};
    if (mamba2) config["ssm_cfg"]["layer"] = "Mamba2";
    return ParseModelConfig(config, shape.name);
  };
  for (const Shape& shape : kMamba1) {
    if (shape.name == name) return make(shape, false);
  }
  for (const Shape& shape : kMamba2) {
    if (shape.name == name) return make(shape, true);
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown model shape \"", name,
                                                 "\"; known: mamba-{130m,370m,790m,1.4b,2.8b}, ",
                                                 "mamba2-{130m,370m,780m,1.3b,2.7b}"));
}

}  // namespace ssm
