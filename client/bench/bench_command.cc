#include "client/bench/bench_command.h"

#include <fstream>

#include "client/bench/load_generator.h"
#include "client/bench/report.h"
#include "client/bench/workload.h"
#include "client/call_metadata.h"

namespace ssm::bench {
namespace {

constexpr char kDefinitions[] =
    R"(Load-tests a server with streaming Generate calls and reports what users feel.

Figures (latencies per request, from this client's clock):
  TTFT  time to first token: request sent to first token received
  ITL   inter-token latency: gaps between consecutive streamed messages carrying tokens
  TPOT  time per output token: (e2e - TTFT) / (output tokens - 1)
  e2e   request sent to the end of its stream
  goodput  completed requests per second that met --slo-ttft and --slo-tpot
Each as mean, p50, p90, p99 and max. Warm-up requests are not counted. Client CPU time per
streamed token shows the client's own cost (and the token rate one core of it can drive).
Requests: random token ids of --input-len (the server needs no tokenizer), or the lines of
--dataset as text; --output-len tokens each (with --ignore-eos exactly that many).)";

}  // namespace

CLI::App* AddBenchCommand(CLI::App& app, Options& o) {
  CLI::App* bench = app.add_subcommand("bench", kDefinitions);
  bench->add_option("--concurrency", o.concurrency, "Closed loop: requests in flight")
      ->check(CLI::Range(1, 100000));
  bench
      ->add_option("--connections", o.connections,
                   "Spread the streams over this many connections (one connection's messages "
                   "are read on one thread at a time)")
      ->check(CLI::Range(1, 1024));
  bench
      ->add_option("--request-rate", o.request_rate,
                   "Open loop: requests per second, arriving as a Poisson process")
      ->check(CLI::NonNegativeNumber);
  bench
      ->add_option("--burstiness", o.burstiness,
                   "Open loop: gamma shape of the arrival gaps (1 Poisson, < 1 burstier)")
      ->check(CLI::PositiveNumber);
  bench
      ->add_option("--sweep-rates", o.sweep_rates,
                   "Open loop at each of these rates; writes OUTPUT.csv and OUTPUT.svg")
      ->delimiter(',')
      ->check(CLI::PositiveNumber);
  bench->add_option("--num-requests", o.num_requests, "Requests to send")
      ->check(CLI::Range(1, 100000000));
  bench->add_option("--duration", o.duration_seconds, "Seconds to send for, instead")
      ->check(CLI::NonNegativeNumber);
  bench->add_option("--warmup-requests", o.warmup_requests, "Sent first, not counted")
      ->check(CLI::NonNegativeNumber);
  bench->add_option("--input-len", o.input_len, "Prompt tokens (random ids)")
      ->check(CLI::Range(1, 1 << 24));
  bench->add_option("--output-len", o.output_len, "Tokens to generate")
      ->check(CLI::Range(1, 1 << 24));
  bench
      ->add_option("--len-spread", o.len_spread,
                   "Lengths uniform in [len x (1 - s), len x (1 + s)]; 0 fixed")
      ->check(CLI::Range(0.0, 1.0));
  bench->add_option("--dataset", o.dataset, "File of prompts, one per line, sent as text")
      ->check(CLI::ExistingFile);
  bench->add_flag("--ignore-eos", o.ignore_eos, "Generate --output-len tokens whatever comes");
  bench->add_option("--temperature", o.temperature, "Sampling temperature; 0 is greedy")
      ->check(CLI::NonNegativeNumber);
  bench->add_option("--top-k", o.top_k, "Sample from the k most likely tokens; 0: all")
      ->check(CLI::NonNegativeNumber);
  bench->add_option("--top-p", o.top_p, "Nucleus sampling mass")->check(CLI::Range(0.0, 1.0));
  bench->add_option("--min-p", o.min_p, "Drop tokens less likely than this x the best")
      ->check(CLI::Range(0.0, 1.0));
  bench
      ->add_option("--turns", o.turns,
                   "Multi-turn: each simulated user keeps a session for this many requests "
                   "(reports TTFT per turn)")
      ->check(CLI::Range(1, 100000));
  bench->add_option("--seed", o.seed, "Seed of the random prompts and arrivals");
  bench->add_option("--slo-ttft", o.slo_ttft, "Goodput: TTFT limit in seconds")
      ->check(CLI::NonNegativeNumber);
  bench->add_option("--slo-tpot", o.slo_tpot, "Goodput: TPOT limit in seconds")
      ->check(CLI::NonNegativeNumber);
  bench->add_option("--output", o.output, "Write the report as JSON to this file");
  bench->add_flag("!--no-progress", o.progress, "No progress bar (it shows only on a terminal)");
  bench->callback([&o] {
    const bool open_loop = o.request_rate > 0 || !o.sweep_rates.empty();
    if (o.turns > 1 && (open_loop || o.duration_seconds > 0)) {
      throw CLI::ValidationError("--turns runs a closed loop of --num-requests requests");
    }
    if (!o.sweep_rates.empty() && o.output.empty()) {
      throw CLI::ValidationError("--sweep-rates needs --output (the CSV and SVG go beside it)");
    }
  });
  return bench;
}

int RunBench(const std::string& target,
             const std::shared_ptr<grpc::ChannelCredentials>& credentials, const Options& options) {
  // Channels with the same target and arguments share one connection unless each keeps its own
  // subchannel pool.
  std::vector<std::unique_ptr<v1::Inference::Stub>> stubs;
  for (int i = 0; i < options.connections; ++i) {
    grpc::ChannelArguments arguments;
    arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    stubs.push_back(
        v1::Inference::NewStub(grpc::CreateCustomChannel(target, credentials, arguments)));
  }
  grpc::ClientContext context;
  client::AddCallMetadata(context, client::BearerToken());
  v1::ModelInfo model;
  if (grpc::Status status = stubs[0]->GetModelInfo(&context, {}, &model); !status.ok()) {
    std::fprintf(stderr, "ssm-client bench: cannot reach the server: %s\n",
                 status.error_message().c_str());
    return 1;
  }
  std::vector<std::string> prompts;
  if (!options.dataset.empty()) {
    prompts = ReadPrompts(options.dataset);
    if (prompts.empty() || !model.has_tokenizer()) {
      std::fprintf(stderr, "ssm-client bench: %s\n",
                   prompts.empty() ? "the dataset has no prompts"
                                   : "the server has no tokenizer, so it cannot take text "
                                     "prompts; leave out --dataset to send token ids");
      return 2;
    }
  }
  Workload workload(options, model.vocab_size(), std::move(prompts));
  LoadGenerator generator(stubs, options, workload, client::BearerToken());
  const std::vector<double> rates =
      options.sweep_rates.empty() ? std::vector<double>{options.request_rate} : options.sweep_rates;
  std::vector<nlohmann::json> reports;
  for (double rate : rates) {
    absl::StatusOr<RunResult> run = generator.Run(rate);
    if (!run.ok()) {
      std::fprintf(stderr, "ssm-client bench: %s\n", std::string(run.status().message()).c_str());
      return 1;
    }
    reports.push_back(BuildReport(*run, options, rate));
    PrintTable(reports.back(), stdout);
    std::printf("\n");
    std::fflush(stdout);
  }
  if (!options.output.empty()) {
    std::ofstream out(options.output);
    out << (reports.size() == 1 ? reports.front() : nlohmann::json(reports)).dump(2) << "\n";
    bool written = static_cast<bool>(out);
    if (!options.sweep_rates.empty()) {
      written = WriteSweepCsv(reports, options.output + ".csv") &&
                WriteSweepSvg(reports, options.output + ".svg") && written;
    }
    if (!written) {
      std::fprintf(stderr, "ssm-client bench: cannot write %s\n", options.output.c_str());
      return 1;
    }
  }
  return 0;
}

}  // namespace ssm::bench
