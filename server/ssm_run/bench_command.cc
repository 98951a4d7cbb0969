#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <numeric>

#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"
#include "server/ssm_run/commands.h"

namespace ssm::run {
namespace {

using Clock = std::chrono::steady_clock;

struct BenchOptions {
  std::string shape;
  std::string device = "cpu";
  std::vector<int> batch_sizes = {1, 4, 16, 32};
  int decode_steps = 16;
  std::vector<int> prefill_tokens;  // empty: DefaultPrefillTokens(device)
  uint64_t seed = 1;
  bool per_sequence_loop = true;
  bool bf16_state = false;
};

// DESIGN.md's roofline of a decode step on an H200: every weight read once, every sequence's
// state read and written once, and 2 flops per parameter per sequence.
constexpr double kHbmBytesPerSecond = 4.8e12;
constexpr double kBf16FlopsPerSecond = 989e12;

double RooflineSeconds(double weight_bytes, double state_bytes, double parameters, int batch) {
  return std::max((weight_bytes + batch * 2 * state_bytes) / kHbmBytesPerSecond,
                  2 * parameters * batch / kBf16FlopsPerSecond);
}

// The figures: a 2k and a 32k prompt, and a 1M one on a GPU (memory must not grow with
// it); on a CPU one short prompt, since a million tokens would take most of an hour there.
std::vector<int> DefaultPrefillTokens(const std::string& device) {
  if (device == "cuda") return {2048, 32768, 1 << 20};
  return {512};
}

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// Decode throughput at one batch size: every slot gets a short prompt, then `steps` timed
// steps each advance all sequences by one token, picked greedily by the backend (on a GPU, on
// the device) and fed back, as in real decoding.
// With per_sequence, each step calls the backend once per sequence instead of once for the
// batch: the loop a server without batching would run, for comparison.
absl::StatusOr<double> DecodeTokensPerSecond(Backend& backend, int batch, int steps,
                                             bool per_sequence) {
  std::vector<int32_t> next(batch);
  std::vector<int32_t> warm_prompt(16);
  std::iota(warm_prompt.begin(), warm_prompt.end(), 100);
  auto step = [&](bool prompt) {
    std::vector<SequenceInput> inputs;
    for (int b = 0; b < batch; ++b) {
      inputs.push_back({b, prompt ? std::span<const int32_t>(warm_prompt)
                                  : std::span<const int32_t>(&next[b], 1)});
    }
    absl::Status status;
    if (per_sequence && !prompt) {
      for (int b = 0; b < batch && status.ok(); ++b) {
        status = backend.ForwardGreedy({&inputs[b], 1}, {&next[b], 1});
      }
    } else {
      status = backend.ForwardGreedy(inputs, next);
    }
    return status;
  };
  for (int b = 0; b < batch; ++b) backend.ClearSlot(b);
  if (absl::Status s = step(true); !s.ok()) return s;
  if (absl::Status s = step(false); !s.ok()) return s;  // warm-up: caches, thread pools
  const Clock::time_point start = Clock::now();
  for (int i = 0; i < steps; ++i) {
    if (absl::Status s = step(false); !s.ok()) return s;
  }
  return batch * steps / Seconds(start);
}

// Prefill throughput: one prompt fed in one step from an empty state; the median of 3 runs
// after a warm-up, since one run is short enough for a noisy machine to sway it. Prompts of more
// than kLongPrompt tokens take seconds and reuse what shorter ones warmed up: one run.
constexpr int kLongPrompt = 100000;

absl::StatusOr<double> PrefillTokensPerSecond(Backend& backend, int tokens) {
  std::vector<int32_t> prompt(tokens);
  for (int i = 0; i < tokens; ++i) prompt[i] = (i * 7919) % backend.vocab_size();
  std::vector<float> logits(backend.vocab_size());
  const SequenceInput input{0, prompt};
  std::vector<double> rates;
  const int warm_ups = tokens > kLongPrompt ? 0 : 1, timed = tokens > kLongPrompt ? 1 : 3;
  for (int run = 0; run < warm_ups + timed; ++run) {
    backend.ClearSlot(0);
    const Clock::time_point start = Clock::now();
    if (absl::Status s = backend.Forward({&input, 1}, logits); !s.ok()) return s;
    if (run >= warm_ups) rates.push_back(tokens / Seconds(start));
  }
  std::sort(rates.begin(), rates.end());
  return rates[rates.size() / 2];
}

int Bench(const BenchOptions& o) {
  auto fail = [](const absl::Status& s) {
    std::fprintf(stderr, "ssm-run bench: %s\n", std::string(s.message()).c_str());
    return 1;
  };
  absl::StatusOr<ModelConfig> config = PublishedShape(o.shape);
  if (!config.ok()) return fail(config.status());
  std::unique_ptr<Model> model = Model::Random(*config, o.seed);
  const int max_batch = *std::max_element(o.batch_sizes.begin(), o.batch_sizes.end());
  absl::StatusOr<std::unique_ptr<Backend>> backend =
      MakeBackend(*model, {.device = o.device,
                           .num_slots = max_batch,
                           .bf16_matrices = o.device == "cuda",
                           .bf16_state = o.bf16_state});
  if (!backend.ok()) return fail(backend.status());

  const bool cuda = o.device == "cuda";
  // As the backend holds them: bf16 matrices on the GPU, fp32 on the CPU.
  const double weight_bytes = cuda ? 2.0 * config->NumParameters() : model->WeightBytes();
  const double state_bytes = (*backend)->slot_bytes();
  nlohmann::json report = {{"model", o.shape},
                           {"device", o.device},
                           {"parameters", config->NumParameters()},
                           {"weight_bytes", model->WeightBytes()},
                           {"decode_steps", o.decode_steps}};
  std::printf("%s (%s, %.1fM params, %s weights, %s state), device %s\n", o.shape.c_str(),
              config->Describe().c_str(), config->NumParameters() / 1e6,
              o.device == "cuda" ? "bf16" : "fp32", o.bf16_state ? "bf16" : "fp32",
              o.device.c_str());
  std::printf("%8s %14s %10s %12s %10s %24s\n", "batch", "decode tok/s", "step ms", "H200 roofline",
              "achieved", "per-sequence loop tok/s");
  for (int batch : o.batch_sizes) {
    absl::StatusOr<double> rate = DecodeTokensPerSecond(**backend, batch, o.decode_steps, false);
    if (!rate.ok()) return fail(rate.status());
    absl::StatusOr<double> loop =
        o.per_sequence_loop ? DecodeTokensPerSecond(**backend, batch, o.decode_steps, true) : 0.0;
    if (!loop.ok()) return fail(loop.status());
    const double step = batch / *rate;
    const double roofline =
        RooflineSeconds(weight_bytes, state_bytes, config->NumParameters(), batch);
    // The roofline is an H200's; on a CPU it would only mislead.
    const std::string against_roofline =
        cuda ? absl::StrFormat("%12.3f %9.1f%%", 1e3 * roofline, 100 * roofline / step)
             : absl::StrFormat("%12s %10s", "-", "-");
    std::printf("%8d %14.1f %10.3f %s %24.1f\n", batch, *rate, 1e3 * step, against_roofline.c_str(),
                *loop);
    report["decode"].push_back({{"batch", batch},
                                {"tokens_per_second", *rate},
                                {"step_seconds", step},
                                {"roofline_seconds", roofline},
                                {"per_sequence_loop_tokens_per_second", *loop}});
    std::fflush(stdout);  // a long run shows its progress, also through a pipe
  }
  const std::vector<int> prefill_tokens =
      o.prefill_tokens.empty() ? DefaultPrefillTokens(o.device) : o.prefill_tokens;
  for (int tokens : prefill_tokens) {
    absl::StatusOr<double> prefill = PrefillTokensPerSecond(**backend, tokens);
    if (!prefill.ok()) return fail(prefill.status());
    const double flops = 2.0 * config->NumParameters() * tokens;
    std::printf("prefill of %d tokens: %.1f tok/s", tokens, *prefill);
    // Steps of more than max_step_tokens run in pieces, so this stays flat as prompts grow.
    const int64_t device_memory = (*backend)->DeviceMemoryInUse();
    if (cuda) {
      std::printf(" (%.1f%% of the H200's bf16 peak; GPU memory in use %.2f GiB)",
                  100 * flops / (tokens / *prefill) / kBf16FlopsPerSecond,
                  device_memory / double(1 << 30));
    }
    std::printf("\n");
    report["prefill"].push_back({{"tokens", tokens},
                                 {"tokens_per_second", *prefill},
                                 {"device_memory_in_use_bytes", device_memory}});
  }
  std::cout << report.dump() << "\n";
  return 0;
}

}  // namespace

Action AddBenchCommand(CLI::App& app) {
  auto options = std::make_shared<BenchOptions>();
  CLI::App* cmd = app.add_subcommand(
      "bench",
      "Decode and prefill throughput on random weights of a published shape; prints a "
      "table, then one JSON line");
  cmd->add_option("--random", options->shape, "Shape, e.g. mamba-130m or mamba2-370m")->required();
  cmd->add_option("--device", options->device, "cpu or cuda")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  cmd->add_option("--batch-sizes", options->batch_sizes, "Decode batch sizes")
      ->delimiter(',')
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--decode-steps", options->decode_steps, "Timed decode steps per batch size")
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--prefill-tokens", options->prefill_tokens,
                  "Prompt lengths for prefill (default: 512 on cpu; 2048,32768,1048576 on cuda)")
      ->delimiter(',')
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--seed", options->seed, "Seed of the random weights");
  cmd->add_flag("--bf16-state", options->bf16_state, "cuda: store the SSM state in bf16");
  cmd->add_option("--per-sequence-loop", options->per_sequence_loop,
                  "Also time one backend call per sequence (what a server without batching "
                  "gets); 0 on big models saves time");
  return [options] { return Bench(*options); };
}

}  // namespace ssm::run
