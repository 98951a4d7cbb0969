#include <cstdio>
#include <filesystem>
#include <iostream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "engine/greedy.h"
#include "engine/tokenizer/tokenizer.h"
#include "nlohmann/json.hpp"
#include "server/ssm_run/commands.h"

namespace ssm::run {
namespace {

struct GenerateOptions {
  std::string model_dir;
  std::string prompt_text;
  std::string prompt_ids;
  int max_new_tokens = 32;
  bool print_logits = false;
  std::string device = "cpu";
  bool bf16 = false;
  bool bf16_state = false;
};

absl::StatusOr<std::vector<int32_t>> ParseIds(const std::string& text) {
  std::vector<int32_t> ids;
  for (absl::string_view piece : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    int32_t id;
    if (!absl::SimpleAtoi(piece, &id)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--prompt-ids: '", piece, "' is not an integer"));
    }
    ids.push_back(id);
  }
  if (ids.empty()) return absl::InvalidArgumentError("--prompt-ids is empty");
  return ids;
}

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "ssm-run generate: %s\n", std::string(status.message()).c_str());
  return 1;
}

// The model folder's tokenizer.json, if it has one.
absl::StatusOr<std::unique_ptr<Tokenizer>> FolderTokenizer(const std::string& model_dir) {
  const std::string path = model_dir + "/tokenizer.json";
  if (!std::filesystem::exists(path)) return std::unique_ptr<Tokenizer>();
  return Tokenizer::Load(path);
}

int Generate(const GenerateOptions& o) {
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = FolderTokenizer(o.model_dir);
  if (!tokenizer.ok()) return Fail(tokenizer.status());
  absl::StatusOr<std::vector<int32_t>> prompt;
  if (!o.prompt_text.empty()) {
    if (*tokenizer == nullptr) {
      return Fail(absl::FailedPreconditionError(
          o.model_dir + " has no tokenizer.json; pass --prompt-ids instead of --prompt"));
    }
    prompt = (*tokenizer)->Encode(o.prompt_text);
    if (prompt.ok() && prompt->empty()) prompt = absl::InvalidArgumentError("--prompt is empty");
  } else {
    prompt = ParseIds(o.prompt_ids);
  }
  if (!prompt.ok()) return Fail(prompt.status());
  absl::StatusOr<std::unique_ptr<Model>> model = Model::Load(o.model_dir);
  if (!model.ok()) return Fail(model.status());
  absl::StatusOr<std::unique_ptr<Backend>> backend = MakeBackend(
      **model,
      {.device = o.device, .num_slots = 1, .bf16_matrices = o.bf16, .bf16_state = o.bf16_state});
  if (!backend.ok()) return Fail(backend.status());
  absl::StatusOr<GreedyResult> result = GenerateGreedy(**backend, 0, *prompt, o.max_new_tokens);
  if (!result.ok()) return Fail(result.status());

  nlohmann::json out = {{"prompt_tokens", prompt->size()}, {"generated_ids", result->generated}};
  if (*tokenizer != nullptr) {
    absl::StatusOr<std::string> text = (*tokenizer)->Decode(result->generated);
    if (!text.ok()) return Fail(text.status());
    out["text"] = *text;
  }
  if (o.print_logits) out["prompt_logits"] = result->prompt_logits;
  std::cout << out.dump() << "\n";
  return 0;
}

}  // namespace

Action AddGenerateCommand(CLI::App& app) {
  auto options = std::make_shared<GenerateOptions>();
  CLI::App* cmd = app.add_subcommand("generate", "Greedy continuation of a prompt; prints JSON");
  cmd->add_option("--model", options->model_dir, "Model folder (config.json + safetensors)")
      ->required();
  auto* text = cmd->add_option("--prompt", options->prompt_text,
                               "Prompt text, encoded with the folder's tokenizer.json");
  auto* ids = cmd->add_option("--prompt-ids", options->prompt_ids, "Prompt token ids, e.g. 1,2,3");
  text->excludes(ids);
  cmd->add_option("--max-new-tokens", options->max_new_tokens, "Tokens to generate")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_flag("--print-logits", options->print_logits,
                "Also print the logits after the last prompt token as prompt_logits");
  cmd->add_option("--device", options->device, "cpu or cuda")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  cmd->add_flag("--bf16", options->bf16, "cuda: keep weight matrices in bf16");
  cmd->add_flag("--bf16-state", options->bf16_state, "cuda: store the SSM state in bf16");
  cmd->callback([text, ids] {
    if (text->count() + ids->count() == 0)
      throw CLI::ValidationError("give --prompt or --prompt-ids");
  });
  return [options] { return Generate(*options); };
}

}  // namespace ssm::run
