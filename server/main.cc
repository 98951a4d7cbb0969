// ssm-server: the gRPC inference server. Loads a model folder, starts the engine loop, serves
// ssm.v1.Inference plus grpc.health.v1 and server reflection, and drains on SIGTERM/SIGINT.
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <spdlog/spdlog.h>

#include <cctype>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>

#include "CLI/CLI.hpp"
#include "engine/backend_factory.h"
#include "engine/model.h"
#include "engine/scheduler.h"
#include "engine/tokenizer/tokenizer.h"
#include "server/inference_service.h"
#include "server/prometheus_metrics.h"

namespace {

struct Flags {
  std::string model;
  std::string listen = "0.0.0.0";
  int port = 50051;
  int metrics_port = 9090;
  std::string device = "cpu";
  bool bf16_matrices = false;
  bool bf16_state = false;
  int slots = 64;
  int64_t token_budget = 512;
  int max_queue = 256;
  int default_max_tokens = 256;
  int64_t max_prompt_tokens = 1 << 20;
  int drain_seconds = 30;
  int session_ttl_seconds = 3600;
  int64_t host_tier_bytes = int64_t{4} << 30;
  int max_message_bytes = 64 << 20;
  std::string tls_cert;
  std::string tls_key;
  std::string bearer_token_file;
  int max_buffered_tokens = 16384;
};

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(path + ": cannot open");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// TLS when a certificate and key are given, plaintext otherwise.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Credentials(const Flags& flags) {
  if (flags.tls_cert.empty() && flags.tls_key.empty()) return grpc::InsecureServerCredentials();
  if (flags.tls_cert.empty() || flags.tls_key.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  absl::StatusOr<std::string> cert = ReadFile(flags.tls_cert);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadFile(flags.tls_key);
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions options;
  options.pem_key_cert_pairs.push_back({*key, *cert});
  return grpc::SslServerCredentials(options);
}

// The bearer token from a file (kept out of the command line, where ps would show it).
absl::StatusOr<std::string> BearerToken(const Flags& flags) {
  if (flags.bearer_token_file.empty()) return std::string();
  absl::StatusOr<std::string> token = ReadFile(flags.bearer_token_file);
  if (!token.ok()) return token.status();
  while (!token->empty() && std::isspace(static_cast<unsigned char>(token->back()))) {
    token->pop_back();
  }
  if (token->empty()) return absl::InvalidArgumentError(flags.bearer_token_file + " is empty");
  return token;
}

// The --model folder, or for "random:SHAPE" random weights of a published shape (benchmarks
// at sizes whose checkpoints are not at hand).
absl::StatusOr<std::unique_ptr<ssm::Model>> LoadModel(const std::string& model) {
  constexpr std::string_view kRandom = "random:";
  if (!model.starts_with(kRandom)) return ssm::Model::Load(model);
  absl::StatusOr<ssm::ModelConfig> shape = ssm::PublishedShape(model.substr(kRandom.size()));
  if (!shape.ok()) return shape.status();
  return ssm::Model::Random(*shape, /*seed=*/1);
}

// The ids that end a generation: config.json's eos_token_id, else the tokenizer's <|endoftext|>.
std::vector<int32_t> EndOfTextIds(const ssm::ModelConfig& config, const ssm::Tokenizer* tokenizer) {
  if (!config.eos_token_ids.empty() || tokenizer == nullptr) return config.eos_token_ids;
  if (std::optional<int32_t> id = tokenizer->AddedTokenId("<|endoftext|>")) return {*id};
  return {};
}

int Serve(const Flags& flags) {
  // Block the stop signals in every thread; the main thread waits for them with sigwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  absl::StatusOr<std::unique_ptr<ssm::Model>> model = LoadModel(flags.model);
  if (!model.ok()) {
    spdlog::error("cannot load the model: {}", model.status().ToString());
    return 1;
  }
  std::unique_ptr<ssm::Tokenizer> tokenizer;
  const std::string tokenizer_path = flags.model + "/tokenizer.json";
  if (std::filesystem::exists(tokenizer_path)) {
    absl::StatusOr<std::unique_ptr<ssm::Tokenizer>> loaded = ssm::Tokenizer::Load(tokenizer_path);
    if (!loaded.ok()) {
      spdlog::error("cannot load the tokenizer: {}", loaded.status().ToString());
      return 1;
    }
    tokenizer = *std::move(loaded);
  }
  const ssm::ModelConfig& config = (*model)->config();
  spdlog::info("model {}: {}; tokenizer: {}", flags.model, config.Describe(),
               tokenizer ? tokenizer_path : "none (token ids only)");

  absl::StatusOr<std::unique_ptr<ssm::Backend>> made =
      ssm::MakeBackend(**model, {.device = flags.device,
                                 .num_slots = flags.slots,
                                 .bf16_matrices = flags.bf16_matrices,
                                 .bf16_state = flags.bf16_state});
  if (!made.ok()) {
    spdlog::error("cannot start the {} backend: {}", flags.device, made.status().ToString());
    return 1;
  }
  ssm::Backend& backend = **made;
  const int64_t bytes_per_slot = backend.slot_bytes();
  std::unique_ptr<ssm::server::PrometheusMetrics> metrics;
  try {
    metrics = std::make_unique<ssm::server::PrometheusMetrics>(
        flags.listen + ":" + std::to_string(flags.metrics_port), flags.slots, bytes_per_slot);
  } catch (const std::exception& e) {  // civetweb cannot bind
    spdlog::error("cannot serve metrics on {}:{}: {}", flags.listen, flags.metrics_port, e.what());
    return 1;
  }
  ssm::Scheduler scheduler(backend, tokenizer.get(), EndOfTextIds(config, tokenizer.get()),
                           {.max_queue = flags.max_queue,
                            .token_budget = flags.token_budget,
                            .default_max_tokens = flags.default_max_tokens,
                            .max_prompt_tokens = flags.max_prompt_tokens,
                            .model_fingerprint = (*model)->Fingerprint(),
                            .session_ttl = std::chrono::seconds(flags.session_ttl_seconds),
                            .host_sessions = static_cast<int32_t>(std::min<int64_t>(
                                flags.host_tier_bytes / bytes_per_slot, 1 << 30))},
                           metrics.get());
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials = Credentials(flags);
  absl::StatusOr<std::string> token = BearerToken(flags);
  if (!credentials.ok() || !token.ok()) {
    spdlog::error("{}", (credentials.ok() ? token.status() : credentials.status()).ToString());
    return 1;
  }
  ssm::server::InferenceService service(**model, tokenizer.get(), scheduler, bytes_per_slot,
                                        metrics.get(), *token, flags.max_buffered_tokens);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int bound_port = 0;
  builder.AddListeningPort(flags.listen + ":" + std::to_string(flags.port), *credentials,
                           &bound_port);
  builder.SetMaxReceiveMessageSize(flags.max_message_bytes);
  builder.SetMaxSendMessageSize(flags.max_message_bytes);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || bound_port == 0) {
    spdlog::error("cannot listen on {}:{}", flags.listen, flags.port);
    return 1;
  }
  server->GetHealthCheckService()->SetServingStatus(true);
  spdlog::info("metrics on {}:{}/metrics", flags.listen, metrics->port());
  spdlog::info("serving on {}:{} ({} slots, token budget {}, {}, {})", flags.listen, bound_port,
               flags.slots, flags.token_budget, flags.tls_cert.empty() ? "plaintext" : "TLS",
               token->empty() ? "no auth" : "bearer token required");

  int signal = 0;
  sigwait(&stop_signals, &signal);
  spdlog::info("signal {}: draining for up to {} s", signal, flags.drain_seconds);
  server->GetHealthCheckService()->SetServingStatus(false);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(flags.drain_seconds));
  spdlog::info("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  CLI::App app{"ssm-server: gRPC inference server for Mamba models"};
  app.add_option("--model", flags.model,
                 "Model folder (config.json, safetensors, tokenizer.json), or random:SHAPE for "
                 "random weights of a published shape (e.g. random:mamba-1.4b; benchmarks)")
      ->required();
  app.add_option("--listen", flags.listen, "Address to listen on");
  app.add_option("--port", flags.port, "gRPC port (0 picks a free one)")
      ->check(CLI::Range(0, 65535));
  app.add_option("--metrics-port", flags.metrics_port, "Prometheus /metrics port (0 picks one)")
      ->check(CLI::Range(0, 65535));
  app.add_option("--device", flags.device, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}));
  app.add_flag("--bf16", flags.bf16_matrices,
               "cuda: keep weight matrices in bf16 whatever the checkpoint stores");
  app.add_flag("--bf16-state", flags.bf16_state,
               "cuda: keep each session's SSM state in bf16 (half the memory and state traffic; "
               "math stays fp32; docs/benchmarks.md has its effect on accuracy)");
  app.add_option("--slots", flags.slots, "State slots: requests that run at once")
      ->check(CLI::Range(1, 65536));
  app.add_option("--token-budget", flags.token_budget, "Tokens per engine step")
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--max-queue", flags.max_queue, "Waiting requests before RESOURCE_EXHAUSTED")
      ->check(CLI::Range(0, 1 << 20));
  app.add_option("--max-prompt-tokens", flags.max_prompt_tokens,
                 "Longer prompts are refused (AppendToSession streams longer documents)")
      ->check(CLI::PositiveNumber);
  app.add_option("--default-max-tokens", flags.default_max_tokens,
                 "max_tokens of requests that leave it 0")
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--host-tier-bytes", flags.host_tier_bytes,
                 "Host memory for idle sessions moved out of a full state pool (0: none; a full "
                 "pool then refuses new sessions)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--session-ttl-seconds", flags.session_ttl_seconds,
                 "Delete sessions idle this long (0: never)")
      ->check(CLI::Range(0, 1 << 30));
  app.add_option("--drain-seconds", flags.drain_seconds, "On SIGTERM, how long streams may finish")
      ->check(CLI::Range(0, 3600));
  app.add_option("--max-message-bytes", flags.max_message_bytes,
                 "gRPC message size limit (at least 1 MiB; sessions move in 512 KiB pieces)")
      ->check(CLI::Range(1 << 20, 1 << 30));
  app.add_option("--max-buffered-tokens", flags.max_buffered_tokens,
                 "A stream whose reader falls this many tokens behind is ended")
      ->check(CLI::Range(1, 1 << 24));
  app.add_option("--tls-cert", flags.tls_cert, "PEM certificate chain; serves TLS with --tls-key");
  app.add_option("--tls-key", flags.tls_key, "PEM private key");
  app.add_option("--bearer-token-file", flags.bearer_token_file,
                 "File holding a token that every call must send as 'authorization: Bearer "
                 "<token>' (health checks excepted)");
  CLI11_PARSE(app, argc, argv);
  return Serve(flags);
}
