// libFuzzer target: a model folder's config.json (engine/model_config.h), as arbitrary JSON
// text. Checks, besides "no crash, no sanitizer report" (signed overflow included): a config
// that parses has positive sizes whose derived sizes (state, projections, parameters) are
// positive too. tools/run_fuzzers.sh builds and runs it.
#include <cstdint>
#include <string>

#include "engine/model_config.h"
#include "nlohmann/json.hpp"
#include "tests/fuzz/check.h"

using ssm::fuzz::Check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const nlohmann::json json =
      nlohmann::json::parse(data, data + size, /*callback=*/nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return 0;
  const absl::StatusOr<ssm::ModelConfig> config = ssm::ParseModelConfig(json, "config.json");
  if (config.ok()) {
    Check(config->d_model > 0 && config->n_layer > 0 && config->vocab_size > 0);
    Check(config->conv_state_size() > 0 && config->ssm_state_size() > 0);
    Check(config->in_proj_size() > 0 && config->NumParameters() > 0);
  }
  return 0;
}
