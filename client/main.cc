// ssm-client: talks to ssm-server. `health` checks grpc.health.v1; `generate` streams a
// completion to stdout as it arrives; `tokenize`, `detokenize` and `info` ask the server's
// tokenizer and model (model_commands.h).
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "client/bench/bench_command.h"
#include "client/call_metadata.h"
#include "client/model_commands.h"
#include "client/report_failure.h"
#include "client/session_id.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "ssm/v1/inference.grpc.pb.h"

namespace {

using ssm::client::ReportFailure;

struct GenerateFlags {
  std::string prompt;
  std::vector<int32_t> prompt_ids;
  int max_tokens = 0;
  float temperature = 0.0f;
  int top_k = 0;
  float top_p = 1.0f;
  uint64_t seed = 0;
  float min_p = 0.0f;
  float repetition_penalty = 1.0f;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  std::vector<std::string> stop;
  int min_tokens = 0;
  std::vector<int32_t> stop_token_ids;
  bool ignore_eos = false;
  bool json = false;
  bool logprobs = false;
  int top_logprobs = 0;
  std::string session;
};

// The bearer token and, for a session, its route (client/call_metadata.h).
void PrepareCall(grpc::ClientContext& context, const std::string& session_id = "") {
  ssm::client::AddCallMetadata(context, ssm::client::BearerToken(), session_id);
}

void PrintSession(const ssm::v1::Session& s) {
  const nlohmann::json line = {
      {"id", s.id()}, {"tokens", s.tokens()}, {"busy", s.busy()}, {"tier", s.tier()}};
  std::printf("%s\n", line.dump().c_str());
}

int Health(const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::health::v1::HealthCheckResponse response;
  const grpc::Status status = stub->Check(&context, {}, &response);
  if (!status.ok()) return ReportFailure("health", status);
  const bool serving = response.status() == grpc::health::v1::HealthCheckResponse::SERVING;
  std::printf("%s\n", serving ? "SERVING" : "NOT_SERVING");
  return serving ? 0 : 1;
}

// Streams exported session bytes to the server in pieces (a state can exceed a message).
grpc::Status ImportState(ssm::v1::Inference::Stub& stub, grpc::ClientContext& context,
                         const std::string& id, std::istream& in, ssm::v1::Session* session) {
  constexpr size_t kPieceBytes = 512 << 10;
  std::unique_ptr<grpc::ClientWriter<ssm::v1::SessionData>> writer =
      stub.ImportSession(&context, session);
  ssm::v1::SessionData piece;
  piece.set_id(id);
  std::string buffer(kPieceBytes, '\0');
  while (in.read(buffer.data(), buffer.size()) || in.gcount() > 0) {
    piece.set_data(buffer.data(), in.gcount());
    if (!writer->Write(piece)) break;  // the server ended the stream; Finish says why
    piece.clear_id();
  }
  writer->WritesDone();
  return writer->Finish();
}

// Streams a document into a session (AppendToSession) in pieces of whole lines of about 16 KiB,
// so that pieces split where the tokenizer splits anyway and never inside a character.
grpc::Status AppendDocument(ssm::v1::Inference::Stub& stub, grpc::ClientContext& context,
                            const std::string& id, std::istream& in, ssm::v1::Session* session) {
  constexpr size_t kPieceBytes = 16 << 10;
  std::unique_ptr<grpc::ClientWriter<ssm::v1::AppendRequest>> writer =
      stub.AppendToSession(&context, session);
  ssm::v1::AppendRequest piece;
  piece.set_session_id(id);
  bool sent = false;
  for (std::string line; std::getline(in, line);) {
    piece.mutable_text()->append(line);
    if (!in.eof()) piece.mutable_text()->push_back('\n');
    if (piece.text().size() >= kPieceBytes) {
      if (!writer->Write(piece)) break;  // the server ended the stream; Finish says why
      sent = true;
      piece.clear_text();
    }
  }
  if (!piece.text().empty() || !sent) writer->Write(piece);
  writer->WritesDone();
  return writer->Finish();
}

// session create | list | get ID | fork ID | delete ID | export ID | import: prints the
// session(s) as JSON lines; export writes the state's bytes to stdout, import reads them from
// stdin.
int Session(const std::shared_ptr<grpc::Channel>& channel, const std::string& action,
            const std::string& given_id) {
  auto stub = ssm::v1::Inference::NewStub(channel);
  // create and import name the new session here unless the user did.
  const bool creates = action == "create" || action == "import";
  const std::string id = creates && given_id.empty() ? ssm::client::NewSessionId() : given_id;
  grpc::ClientContext context;
  PrepareCall(context, action == "list" ? "" : id);
  ssm::v1::Session session;
  grpc::Status status;
  if (action == "create") {
    ssm::v1::CreateSessionRequest request;
    request.set_id(id);
    status = stub->CreateSession(&context, request, &session);
  } else if (action == "import") {
    status = ImportState(*stub, context, id, std::cin, &session);
  } else if (action == "append" && !id.empty()) {
    status = AppendDocument(*stub, context, id, std::cin, &session);
  } else if (action == "get" || action == "fork" || action == "delete" || action == "export" ||
             action == "append") {
    if (id.empty()) {
      std::fprintf(stderr, "ssm-client session %s: give the session id\n", action.c_str());
      return 2;
    }
    if (action == "get") {
      ssm::v1::GetSessionRequest request;
      request.set_id(id);
      status = stub->GetSession(&context, request, &session);
    } else if (action == "export") {
      ssm::v1::ExportSessionRequest request;
      request.set_id(id);
      auto reader = stub->ExportSession(&context, request);
      for (ssm::v1::SessionData piece; reader->Read(&piece);) {
        std::fwrite(piece.data().data(), 1, piece.data().size(), stdout);
      }
      status = reader->Finish();
      if (!status.ok()) return ReportFailure("session export", status);
      return 0;
    } else if (action == "fork") {
      ssm::v1::ForkSessionRequest request;
      request.set_id(id);
      status = stub->ForkSession(&context, request, &session);
    } else {
      ssm::v1::DeleteSessionRequest request;
      request.set_id(id);
      ssm::v1::DeleteSessionResponse response;
      status = stub->DeleteSession(&context, request, &response);
      if (!status.ok()) return ReportFailure("session delete", status);
      return 0;
    }
  } else {  // list
    ssm::v1::ListSessionsResponse response;
    status = stub->ListSessions(&context, {}, &response);
    if (!status.ok()) return ReportFailure("session list", status);
    for (const ssm::v1::Session& s : response.sessions()) PrintSession(s);
    return 0;
  }
  if (!status.ok()) return ReportFailure(("session " + action).c_str(), status);
  PrintSession(session);
  return 0;
}

nlohmann::json ToJson(const google::protobuf::RepeatedPtrField<ssm::v1::TokenLogprobs>& tokens) {
  nlohmann::json out = nlohmann::json::array();
  for (const ssm::v1::TokenLogprobs& token : tokens) {
    nlohmann::json top = nlohmann::json::array();
    for (const ssm::v1::TopLogprob& t : token.top()) {
      top.push_back({{"token_id", t.token_id()}, {"logprob", t.logprob()}});
    }
    out.push_back({{"logprob", token.logprob()}, {"top", top}});
  }
  return out;
}

int Generate(const std::shared_ptr<grpc::Channel>& channel, const GenerateFlags& f) {
  auto stub = ssm::v1::Inference::NewStub(channel);
  ssm::v1::GenerateRequest request;
  if (!f.prompt_ids.empty()) {
    request.mutable_prompt_ids()->mutable_ids()->Assign(f.prompt_ids.begin(), f.prompt_ids.end());
  } else {
    request.set_prompt(f.prompt);
  }
  if (f.max_tokens > 0) request.set_max_tokens(f.max_tokens);
  request.mutable_sampling()->set_temperature(f.temperature);
  request.mutable_sampling()->set_top_k(f.top_k);
  request.mutable_sampling()->set_top_p(f.top_p);
  request.mutable_sampling()->set_seed(f.seed);
  request.mutable_sampling()->set_min_p(f.min_p);
  request.mutable_sampling()->set_repetition_penalty(f.repetition_penalty);
  request.mutable_sampling()->set_presence_penalty(f.presence_penalty);
  request.mutable_sampling()->set_frequency_penalty(f.frequency_penalty);
  for (const std::string& stop : f.stop) request.add_stop(stop);
  request.set_min_tokens(f.min_tokens);
  request.mutable_stop_token_ids()->Assign(f.stop_token_ids.begin(), f.stop_token_ids.end());
  request.set_ignore_eos(f.ignore_eos);
  request.set_session_id(f.session);
  request.set_logprobs(f.logprobs);
  request.set_top_logprobs(f.top_logprobs);

  grpc::ClientContext context;
  PrepareCall(context, f.session);
  std::unique_ptr<grpc::ClientReader<ssm::v1::GenerateResponse>> stream =
      stub->Generate(&context, request);
  ssm::v1::GenerateResponse message, last;
  std::string text;
  std::vector<int32_t> ids;
  int messages = 0;
  while (stream->Read(&message)) {
    ++messages;
    text += message.text();
    ids.insert(ids.end(), message.token_ids().begin(), message.token_ids().end());
    if (f.json) {
      nlohmann::json line = {{"token_ids", message.token_ids()}, {"text", message.text()}};
      if (message.logprobs_size() > 0) line["logprobs"] = ToJson(message.logprobs());
      std::printf("%s\n",
                  line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    } else {
      std::fwrite(message.text().data(), 1, message.text().size(), stdout);
    }
    std::fflush(stdout);
    last = message;
  }
  const grpc::Status status = stream->Finish();
  if (!status.ok()) return ReportFailure("generate", status);
  if (!f.json) {
    std::printf("\n");
    return 0;
  }
  const nlohmann::json summary = {
      {"finish_reason", ssm::v1::FinishReason_Name(last.finish_reason())},
      {"usage",
       {{"prompt_tokens", last.usage().prompt_tokens()},
        {"generated_tokens", last.usage().generated_tokens()},
        {"session_tokens", last.usage().session_tokens()}}},
      {"token_ids", ids},
      {"text", text},
      {"messages", messages},
      {"time_to_first_token_seconds", last.timings().time_to_first_token_seconds()},
      {"total_seconds", last.timings().total_seconds()}};
  std::printf("%s\n",
              summary.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  return 0;
}

// An interactive conversation: each line read is a turn, continued on one session whose state
// keeps the whole conversation, so every turn costs only its own tokens. Ends at end of input
// and deletes the session.
int Chat(const std::shared_ptr<grpc::Channel>& channel, GenerateFlags f) {
  auto stub = ssm::v1::Inference::NewStub(channel);
  const std::string id = ssm::client::NewSessionId();
  {
    grpc::ClientContext context;
    PrepareCall(context, id);
    ssm::v1::CreateSessionRequest request;
    request.set_id(id);
    ssm::v1::Session session;
    if (grpc::Status s = stub->CreateSession(&context, request, &session); !s.ok()) {
      return ReportFailure("chat", s);
    }
  }
  f.session = id;
  const bool interactive = isatty(STDIN_FILENO);
  int result = 0;
  for (std::string line;;) {
    if (interactive) std::fprintf(stderr, "> ");
    if (!std::getline(std::cin, line)) break;
    if (line.empty()) continue;
    f.prompt = line + "\n";
    if ((result = Generate(channel, f)) != 0) break;
  }
  grpc::ClientContext context;
  PrepareCall(context, id);
  ssm::v1::DeleteSessionRequest request;
  request.set_id(id);
  ssm::v1::DeleteSessionResponse response;
  stub->DeleteSession(&context, request, &response);
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ssm-client: talk to ssm-server"};
  std::string target = "localhost:50051";
  app.add_option("--target", target, "Server address, HOST:PORT");
  bool tls = false;
  std::string tls_ca;
  app.add_flag("--tls", tls, "Connect with TLS (system roots)");
  app.add_option("--tls-ca", tls_ca, "Connect with TLS, trusting this PEM CA certificate");
  app.footer("Environment: SSM_TOKEN, when set, is sent as the bearer token.");
  app.require_subcommand(1);
  CLI::App* health = app.add_subcommand("health", "Exit 0 when the server is serving");
  CLI::App* generate = app.add_subcommand("generate", "Stream a completion to stdout");
  GenerateFlags f;
  auto* prompt = generate->add_option("--prompt", f.prompt, "Prompt text");
  auto* ids =
      generate->add_option("--prompt-ids", f.prompt_ids, "Prompt token ids: 1,2,3")->delimiter(',');
  prompt->excludes(ids);
  generate->add_option("--max-tokens", f.max_tokens, "Most tokens to generate (0: server default)");
  generate->add_option("--temperature", f.temperature, "0 is greedy");
  generate->add_option("--top-k", f.top_k, "Keep the k most likely tokens (0: all)");
  generate->add_option("--top-p", f.top_p, "Nucleus probability mass in (0, 1] (1: all)");
  generate->add_option("--seed", f.seed, "Sampling seed (0: random)");
  generate->add_option("--min-p", f.min_p, "Drop tokens below min_p x the best one's probability");
  generate->add_option("--repetition-penalty", f.repetition_penalty, "1 is off");
  generate->add_option("--presence-penalty", f.presence_penalty, "In [-2, 2]");
  generate->add_option("--frequency-penalty", f.frequency_penalty, "In [-2, 2]");
  generate->add_option("--stop", f.stop, "Stop string (repeatable)");
  generate->add_option("--min-tokens", f.min_tokens, "No stopping before this many tokens");
  generate->add_option("--stop-token-ids", f.stop_token_ids, "Extra stop ids: 1,2")->delimiter(',');
  generate->add_flag("--ignore-eos", f.ignore_eos, "Do not stop at the end-of-text token");
  generate->add_flag("--json", f.json,
                     "One JSON line per streamed message (token_ids, text[, logprobs]), then a "
                     "summary line (finish_reason, usage, all token_ids)");
  generate->add_flag("--logprobs", f.logprobs, "Return each token's log-probability (with --json)");
  generate->add_option("--top-logprobs", f.top_logprobs, "And the N most likely tokens (0-20)")
      ->check(CLI::Range(0, 20));
  generate->add_option("--session", f.session, "Continue this session (see `session create`)");
  CLI::App* session =
      app.add_subcommand("session", "Manage sessions: create, list, get, fork, delete");
  std::string action, session_id;
  session
      ->add_option("action", action,
                   "create | list | get | fork | delete | export | import | append (a "
                   "document from stdin into the session)")
      ->required()
      ->check(
          CLI::IsMember({"create", "list", "get", "fork", "delete", "export", "import", "append"}));
  session->add_option(
      "id", session_id,
      "Session id (get, fork, delete, export, append; for create and import, the id to "
      "give the new session, random by default)");
  CLI::App* chat = app.add_subcommand(
      "chat", "Interactive: each line from stdin is a turn on one session (needs a tokenizer)");
  chat->add_option("--max-tokens", f.max_tokens, "Most tokens per reply (0: server default)");
  chat->add_option("--temperature", f.temperature, "0 is greedy");
  chat->add_option("--top-p", f.top_p, "Nucleus probability mass in (0, 1] (1: all)");
  chat->add_option("--seed", f.seed, "Sampling seed (0: random)");
  chat->add_option("--stop", f.stop, "Stop string (repeatable)");
  CLI::App* tokenize =
      app.add_subcommand("tokenize", "Print the token ids of --text (or of stdin) as JSON");
  std::string tokenize_text;
  auto* tokenize_text_option = tokenize->add_option("--text", tokenize_text, "Text to tokenize");
  CLI::App* detokenize = app.add_subcommand("detokenize", "Print the text of --ids as JSON");
  std::vector<int32_t> detokenize_ids;
  detokenize->add_option("--ids", detokenize_ids, "Token ids: 1,2,3")->delimiter(',')->required();
  CLI::App* info = app.add_subcommand("info", "Print the served model's description as JSON");
  ssm::bench::Options bench_options;
  CLI::App* bench = ssm::bench::AddBenchCommand(app, bench_options);
  generate->callback([prompt, ids] {
    if (prompt->count() + ids->count() == 0)
      throw CLI::ValidationError("give --prompt or --prompt-ids");
  });
  CLI11_PARSE(app, argc, argv);

  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (tls || !tls_ca.empty()) {
    grpc::SslCredentialsOptions options;  // empty roots: the system's
    if (!tls_ca.empty()) {
      std::ifstream in(tls_ca);
      if (!in) {
        std::fprintf(stderr, "ssm-client: cannot open %s\n", tls_ca.c_str());
        return 2;
      }
      options.pem_root_certs.assign(std::istreambuf_iterator<char>(in), {});
    }
    credentials = grpc::SslCredentials(options);
  }
  if (bench->parsed()) return ssm::bench::RunBench(target, credentials, bench_options);
  auto channel = grpc::CreateChannel(target, credentials);
  if (health->parsed()) return Health(channel);
  if (session->parsed()) return Session(channel, action, session_id);
  if (chat->parsed()) return Chat(channel, f);
  if (tokenize->parsed()) {
    if (tokenize_text_option->count() == 0) {
      tokenize_text.assign(std::istreambuf_iterator<char>(std::cin), {});
    }
    return ssm::client::Tokenize(channel, tokenize_text);
  }
  if (detokenize->parsed()) return ssm::client::Detokenize(channel, detokenize_ids);
  if (info->parsed()) return ssm::client::Info(channel);
  return Generate(channel, f);
}
