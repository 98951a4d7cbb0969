// The real ssm-server process on loopback, driven by the real ssm-client and by a gRPC stub.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <regex>
#include <sstream>
#include <thread>

#include "engine/tokenizer/tokenizer.h"
#include "engine/tokenizer/utf8.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "ssm/v1/inference.grpc.pb.h"
#include "tests/support/byte_tokenizer.h"
#include "tests/support/command.h"
#include "tests/support/fixtures.h"
#include "tests/support/safetensors_writer.h"
#include "tests/support/server_process.h"

namespace ssm {
namespace {

using testing::ServerProcess;

const char kFixture[] = "mamba2_g2_bf16";  // no near-ties in its greedy continuations

using testing::JoinIds;
using Outcome = testing::CommandOutcome;

// ssm-client generate --json output: one JSON value per line.
std::vector<nlohmann::json> JsonLines(const std::string& output) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(nlohmann::json::parse(line));
  }
  return lines;
}

// token, if given, goes in SSM_TOKEN.
Outcome RunClient(const std::string& args, const std::string& token = "") {
  const std::string env = token.empty() ? "" : "SSM_TOKEN=" + token + " ";
  return testing::RunCommand(env + SSM_CLIENT_BINARY, args);
}

// Greedy generation through a stub; returns the ids, or the status on failure.
struct StubResult {
  grpc::Status status;
  std::vector<int32_t> ids;
  v1::FinishReason finish = v1::FINISH_REASON_UNSPECIFIED;
};

// Reads a Generate stream to its end.
StubResult ReadToEnd(grpc::ClientReader<v1::GenerateResponse>& reader) {
  StubResult result;
  v1::GenerateResponse message;
  while (reader.Read(&message)) {
    result.ids.insert(result.ids.end(), message.token_ids().begin(), message.token_ids().end());
    if (message.finish_reason() != v1::FINISH_REASON_UNSPECIFIED)
      result.finish = message.finish_reason();
  }
  result.status = reader.Finish();
  return result;
}

StubResult Generate(v1::Inference::Stub& stub, const v1::GenerateRequest& request) {
  grpc::ClientContext context;
  return ReadToEnd(*stub.Generate(&context, request));
}

v1::GenerateRequest GreedyRequest(const std::vector<int32_t>& prompt, int max_tokens) {
  v1::GenerateRequest request;
  request.mutable_prompt_ids()->mutable_ids()->Assign(prompt.begin(), prompt.end());
  request.set_max_tokens(max_tokens);
  request.set_ignore_eos(true);
  return request;
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerProcess>(
        std::vector<std::string>{"--model", testing::FixturePath(kFixture), "--slots", "8"});
    ASSERT_NE(server_->port(), 0) << server_->output();
    stub_ = v1::Inference::NewStub(
        grpc::CreateChannel(server_->target(), grpc::InsecureChannelCredentials()));
  }

  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<v1::Inference::Stub> stub_;
};

TEST_F(ServerTest, HealthIsServing) {
  const Outcome health = RunClient("--target " + server_->target() + " health");
  EXPECT_EQ(health.exit_code, 0) << health.output;
  EXPECT_EQ(health.output, "SERVING\n");
}

TEST_F(ServerTest, ClientStreamsTheGreedyContinuationOfTransformers) {
  for (const testing::ExpectedPrompt& p : testing::LoadExpected(testing::FixturePath(kFixture))) {
    const Outcome run = RunClient("--target " + server_->target() + " generate --prompt-ids " +
                                  JoinIds(p.prompt_ids) + " --max-tokens 24 --ignore-eos --json");
    ASSERT_EQ(run.exit_code, 0) << run.output;
    // One JSON line per streamed message, then the summary.
    const std::vector<nlohmann::json> lines = JsonLines(run.output);
    ASSERT_GE(lines.size(), 2u) << run.output;
    std::vector<int32_t> streamed;
    for (size_t i = 0; i + 1 < lines.size(); ++i) {
      for (int32_t id : lines[i].at("token_ids")) streamed.push_back(id);
      EXPECT_TRUE(lines[i].contains("text"));
    }
    const nlohmann::json& summary = lines.back();
    EXPECT_EQ(streamed, p.greedy_ids);
    EXPECT_EQ(summary["token_ids"].get<std::vector<int32_t>>(), p.greedy_ids);
    EXPECT_EQ(summary["finish_reason"], "FINISH_REASON_LENGTH");
    EXPECT_EQ(summary["usage"]["prompt_tokens"], p.prompt_ids.size());
    EXPECT_EQ(summary["usage"]["generated_tokens"], 24);
  }
}

// Logprobs are the model's: after the prompt, log_softmax of the logits transformers computed.
TEST_F(ServerTest, LogprobsAreTheModelsAndTopOnesComeSorted) {
  const testing::ExpectedPrompt p = testing::LoadExpected(testing::FixturePath(kFixture))[1];
  v1::GenerateRequest request = GreedyRequest(p.prompt_ids, 3);
  request.set_top_logprobs(5);
  grpc::ClientContext context;
  auto reader = stub_->Generate(&context, request);
  std::vector<v1::TokenLogprobs> logprobs;
  std::vector<int32_t> ids;
  v1::GenerateResponse message;
  while (reader->Read(&message)) {
    ASSERT_EQ(message.logprobs_size(), message.token_ids_size());
    ids.insert(ids.end(), message.token_ids().begin(), message.token_ids().end());
    logprobs.insert(logprobs.end(), message.logprobs().begin(), message.logprobs().end());
  }
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_EQ(logprobs.size(), 3u);
  const float max = *std::max_element(p.prompt_logits.begin(), p.prompt_logits.end());
  double sum = 0;
  for (float l : p.prompt_logits) sum += std::exp(l - max);
  const float expected = p.prompt_logits[ids[0]] - max - static_cast<float>(std::log(sum));
  EXPECT_NEAR(logprobs[0].logprob(), expected, 1e-3);
  for (size_t i = 0; i < logprobs.size(); ++i) {
    const v1::TokenLogprobs& t = logprobs[i];
    ASSERT_EQ(t.top_size(), 5);
    EXPECT_EQ(t.top(0).token_id(), ids[i]);  // greedy picks the most likely
    EXPECT_FLOAT_EQ(t.top(0).logprob(), t.logprob());
    for (int k = 1; k < t.top_size(); ++k) EXPECT_LE(t.top(k).logprob(), t.top(k - 1).logprob());
    EXPECT_LE(t.logprob(), 0.0f);
  }
  request.set_top_logprobs(21);
  EXPECT_EQ(Generate(*stub_, request).status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  const Outcome client =
      RunClient("--target " + server_->target() + " generate --prompt-ids " +
                JoinIds(p.prompt_ids) + " --max-tokens 2 --json --top-logprobs 3");
  ASSERT_EQ(client.exit_code, 0) << client.output;
  EXPECT_EQ(JsonLines(client.output).front()["logprobs"][0]["top"].size(), 3u) << client.output;
}

// The quick start's path: the demo model streams, as text, the story transformers wrote.
TEST(DemoModelServerTest, StreamsTheStoryTransformersWrote) {
  ServerProcess server({"--model", testing::DemoModelDir()});
  ASSERT_NE(server.port(), 0) << server.output();
  const testing::ExpectedPrompt p = testing::LoadExpected(testing::DemoModelDir()).front();
  const Outcome run =
      RunClient("--target " + server.target() + " generate --prompt '" + p.prompt_text +
                "' --max-tokens " + std::to_string(p.greedy_ids.size()));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(run.output, p.greedy_text + "\n");
}

// ssm-client chat: every input line is a turn on one session; the session is gone afterwards.
TEST(DemoModelServerTest, ClientAppendsADocumentAsText) {
  ServerProcess server({"--model", testing::DemoModelDir()});
  ASSERT_NE(server.port(), 0) << server.output();
  const std::string dir = testing::MakeTempDir("append");
  std::string document;
  for (int i = 0; i < 400; ++i)
    document += "Lily saw a big red ball in the park, number " + std::to_string(i) + ".\n";
  testing::WriteFile(dir + "/story.txt", document);
  const std::string target = "--target " + server.target();
  ASSERT_EQ(RunClient(target + " session create story").exit_code, 0);
  const Outcome appended = RunClient(target + " session append story < " + dir + "/story.txt");
  ASSERT_EQ(appended.exit_code, 0) << appended.output;
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer =
      Tokenizer::Load(testing::DemoModelDir() + "/tokenizer.json");
  ASSERT_TRUE(tokenizer.ok());
  // The document is over 16 KiB, so it went in several pieces split after newlines, which the
  // tokenizer splits at anyway: the count is the whole text's.
  ASSERT_GT(document.size(), 16u << 10);
  EXPECT_EQ(nlohmann::json::parse(appended.output)["tokens"],
            (*tokenizer)->Encode(document)->size());
}

TEST(DemoModelServerTest, ChatContinuesOneSessionTurnByTurn) {
  ServerProcess server({"--model", testing::DemoModelDir()});
  ASSERT_NE(server.port(), 0) << server.output();
  const Outcome chat = RunClient("--target " + server.target() +
                                 " chat --max-tokens 8 <<< $'Once upon a time\\nThe dog'");
  ASSERT_EQ(chat.exit_code, 0) << chat.output;
  // Each turn's reply ends with a newline (replies may hold more).
  EXPECT_GE(std::count(chat.output.begin(), chat.output.end(), '\n'), 2) << chat.output;
  EXPECT_GT(chat.output.size(), 10u);
  const Outcome list = RunClient("--target " + server.target() + " session list");
  EXPECT_EQ(list.output, "");
}

// 24 requests at once (8 slots, so some queue) each get what transformers computed alone.
TEST_F(ServerTest, ConcurrentRequestsGetTheirOwnResults) {
  const std::vector<testing::ExpectedPrompt> expected =
      testing::LoadExpected(testing::FixturePath(kFixture));
  std::vector<std::future<StubResult>> results;
  for (int i = 0; i < 24; ++i) {
    results.push_back(std::async(std::launch::async, [&, i] {
      return Generate(*stub_, GreedyRequest(expected[i % expected.size()].prompt_ids, 24));
    }));
  }
  for (int i = 0; i < 24; ++i) {
    const StubResult r = results[i].get();
    ASSERT_TRUE(r.status.ok()) << r.status.error_message();
    EXPECT_EQ(r.ids, expected[i % expected.size()].greedy_ids) << "request " << i;
  }
}

// Batching must not change results: 64 seeded, sampled requests at once (one engine step
// holds all of them) each get what they get alone.
TEST(ServerBatchingTest, SixtyFourAtOnceEqualAlone) {
  ServerProcess server({"--model", testing::FixturePath(kFixture), "--slots", "64"});
  ASSERT_NE(server.port(), 0) << server.output();
  auto stub = v1::Inference::NewStub(
      grpc::CreateChannel(server.target(), grpc::InsecureChannelCredentials()));
  auto request = [](int i) {
    v1::GenerateRequest r = GreedyRequest({i % 200 + 1, (i * 7) % 200 + 1, (i * 13) % 200 + 1}, 16);
    r.mutable_sampling()->set_temperature(0.9f);
    r.mutable_sampling()->set_top_p(0.95f);
    r.mutable_sampling()->set_seed(1000 + i);
    return r;
  };
  std::vector<std::future<StubResult>> together;
  for (int i = 0; i < 64; ++i) {
    together.push_back(
        std::async(std::launch::async, [&, i] { return Generate(*stub, request(i)); }));
  }
  std::vector<StubResult> batched;
  for (auto& f : together) batched.push_back(f.get());
  for (int i = 0; i < 64; i += 7) {
    ASSERT_TRUE(batched[i].status.ok()) << batched[i].status.error_message();
    const StubResult alone = Generate(*stub, request(i));
    ASSERT_TRUE(alone.status.ok());
    EXPECT_EQ(batched[i].ids, alone.ids) << "request " << i;
  }
}

TEST_F(ServerTest, SeededSamplingIsReproducibleAndStopsAtStopIds) {
  v1::GenerateRequest request = GreedyRequest({5, 6, 7}, 40);
  request.mutable_sampling()->set_temperature(1.0f);
  request.mutable_sampling()->set_top_p(0.9f);
  request.mutable_sampling()->set_seed(42);
  const StubResult a = Generate(*stub_, request);
  const StubResult b = Generate(*stub_, request);
  ASSERT_TRUE(a.status.ok() && b.status.ok());
  EXPECT_EQ(a.ids, b.ids);
  EXPECT_EQ(a.ids.size(), 40u);
  request.add_stop_token_ids(a.ids[10]);
  const StubResult stopped = Generate(*stub_, request);
  ASSERT_TRUE(stopped.status.ok());
  EXPECT_EQ(stopped.finish, v1::FINISH_REASON_STOP);
  EXPECT_LE(stopped.ids.size(), 11u);
  EXPECT_EQ(stopped.ids.back(), a.ids[10]);
}

// A seeded draw is the same whether the backend makes it (only ids come back) or the host does
// from the logits, as it must when logprobs are asked for: with plain sampling, and with
// penalties and ids banned before min_tokens.
TEST_F(ServerTest, SeededDrawsDoNotDependOnWhereTheyAreMade) {
  v1::GenerateRequest plain = GreedyRequest({5, 6, 7, 5, 6}, 40);
  plain.mutable_sampling()->set_temperature(0.8f);
  plain.mutable_sampling()->set_top_k(50);
  plain.mutable_sampling()->set_min_p(0.01f);
  plain.mutable_sampling()->set_seed(9);
  v1::GenerateRequest penalized = plain;
  penalized.mutable_sampling()->set_repetition_penalty(3.0f);
  penalized.mutable_sampling()->set_presence_penalty(2.0f);
  penalized.mutable_sampling()->set_frequency_penalty(2.0f);
  penalized.set_min_tokens(10);
  for (v1::GenerateRequest request : {plain, penalized}) {
    const StubResult on_backend = Generate(*stub_, request);
    request.set_logprobs(true);
    const StubResult on_host = Generate(*stub_, request);
    ASSERT_TRUE(on_backend.status.ok() && on_host.status.ok());
    EXPECT_EQ(on_backend.ids, on_host.ids);
    request.mutable_sampling()->set_seed(10);
    EXPECT_NE(Generate(*stub_, request).ids, on_host.ids);  // the seed matters
  }
  EXPECT_NE(Generate(*stub_, plain).ids, Generate(*stub_, penalized).ids);  // so do penalties
}

TEST_F(ServerTest, BadRequestsGetClearStatuses) {
  struct Case {
    v1::GenerateRequest request;
    grpc::StatusCode code;
    std::string message_part;
  };
  std::vector<Case> cases;
  cases.push_back({v1::GenerateRequest(), grpc::StatusCode::INVALID_ARGUMENT, "prompt"});
  cases.push_back({GreedyRequest({}, 4), grpc::StatusCode::INVALID_ARGUMENT, "prompt is empty"});
  cases.push_back({GreedyRequest({1, 4096}, 4), grpc::StatusCode::INVALID_ARGUMENT,
                   "prompt token 1 (id 4096) is outside the vocabulary"});
  v1::GenerateRequest hot = GreedyRequest({1}, 4);
  hot.mutable_sampling()->set_temperature(-1);
  cases.push_back({hot, grpc::StatusCode::INVALID_ARGUMENT, "temperature"});
  v1::GenerateRequest wide = GreedyRequest({1}, 4);
  wide.mutable_sampling()->set_top_p(2);
  cases.push_back({wide, grpc::StatusCode::INVALID_ARGUMENT, "top_p"});
  v1::GenerateRequest none = GreedyRequest({1}, 4);
  none.mutable_sampling()->set_top_p(0);  // set, so not the default: outside (0, 1]
  cases.push_back({none, grpc::StatusCode::INVALID_ARGUMENT, "top_p must be in (0, 1]"});
  cases.push_back({GreedyRequest({1}, -3), grpc::StatusCode::INVALID_ARGUMENT, "max_tokens"});
  cases.push_back({GreedyRequest({1}, 0), grpc::StatusCode::INVALID_ARGUMENT, "max_tokens"});
  cases.push_back({GreedyRequest({1}, (1 << 20) + 1), grpc::StatusCode::INVALID_ARGUMENT,
                   "max_tokens must be in [0, 1048576]"});
  v1::GenerateRequest narrow = GreedyRequest({1}, 4);
  narrow.mutable_sampling()->set_top_k(-1);
  cases.push_back({narrow, grpc::StatusCode::INVALID_ARGUMENT, "top_k"});
  v1::GenerateRequest far_stop = GreedyRequest({1}, 4);
  far_stop.add_stop_token_ids(4096);  // with min_tokens it would be banned: an index past the row
  far_stop.set_min_tokens(2);
  cases.push_back({far_stop, grpc::StatusCode::INVALID_ARGUMENT,
                   "stop token id 4096 is outside the vocabulary"});
  v1::GenerateRequest text;
  text.set_prompt("hello");
  cases.push_back({text, grpc::StatusCode::FAILED_PRECONDITION, "tokenizer"});
  for (const Case& c : cases) {
    const StubResult r = Generate(*stub_, c.request);
    EXPECT_EQ(r.status.error_code(), c.code) << c.message_part;
    EXPECT_NE(r.status.error_message().find(c.message_part), std::string::npos)
        << r.status.error_message();
  }
  const Outcome client =
      RunClient("--target " + server_->target() + " generate --prompt-ids 1,999");
  EXPECT_EQ(client.exit_code, 1);
  EXPECT_NE(client.output.find("INVALID_ARGUMENT"), std::string::npos) << client.output;
}

class SessionTest : public ServerTest {
 protected:
  v1::Session Create(const std::string& id = "", grpc::Status* status = nullptr) {
    grpc::ClientContext context;
    v1::CreateSessionRequest request;
    request.set_id(id);
    v1::Session session;
    const grpc::Status s = stub_->CreateSession(&context, request, &session);
    if (status != nullptr) {
      *status = s;
    } else {
      EXPECT_TRUE(s.ok()) << s.error_message();
    }
    return session;
  }
  v1::Session Get(const std::string& id, grpc::Status* status = nullptr) {
    grpc::ClientContext context;
    v1::GetSessionRequest request;
    request.set_id(id);
    v1::Session session;
    const grpc::Status s = stub_->GetSession(&context, request, &session);
    if (status != nullptr) *status = s;
    return session;
  }
  StubResult Turn(const std::string& session, const std::vector<int32_t>& prompt, int tokens) {
    v1::GenerateRequest request = GreedyRequest(prompt, tokens);
    request.set_session_id(session);
    return Generate(*stub_, request);
  }
};

// Continuing a session with B after A gives what one request on A, A's output and B gives.
TEST_F(SessionTest, ContinuingASessionEqualsOneRequestOnTheWholeContext) {
  const std::vector<int32_t> a = {11, 12, 13, 14}, b = {21, 22, 23};
  const v1::Session session = Create();
  const StubResult first = Turn(session.id(), a, 6);
  const StubResult second = Turn(session.id(), b, 8);
  ASSERT_TRUE(first.status.ok() && second.status.ok()) << second.status.error_message();

  std::vector<int32_t> whole = a;
  whole.insert(whole.end(), first.ids.begin(), first.ids.end());
  whole.insert(whole.end(), b.begin(), b.end());
  const StubResult at_once = Generate(*stub_, GreedyRequest(whole, 8));
  ASSERT_TRUE(at_once.status.ok());
  EXPECT_EQ(second.ids, at_once.ids);
  EXPECT_EQ(Get(session.id()).tokens(), int64_t(a.size() + 6 + b.size() + 8));
}

TEST_F(SessionTest, ForkGivesTwoIndependentIdenticalContinuations) {
  const v1::Session session = Create();
  ASSERT_TRUE(Turn(session.id(), {31, 32, 33}, 5).status.ok());
  grpc::ClientContext context;
  v1::ForkSessionRequest fork_request;
  fork_request.set_id(session.id());
  v1::Session fork;
  ASSERT_TRUE(stub_->ForkSession(&context, fork_request, &fork).ok());
  EXPECT_NE(fork.id(), session.id());
  // The fork keeps its parent's route, so a gateway hashing on it finds the same replica.
  EXPECT_EQ(fork.id().substr(0, fork.id().find('.')), session.id()) << fork.id();
  EXPECT_EQ(fork.tokens(), 8);
  const StubResult original = Turn(session.id(), {40}, 7);
  const StubResult copy = Turn(fork.id(), {40}, 7);
  ASSERT_TRUE(original.status.ok() && copy.status.ok());
  EXPECT_EQ(original.ids, copy.ids);
  // Independent: the fork moves on alone.
  ASSERT_TRUE(Turn(fork.id(), {41, 42}, 3).status.ok());
  EXPECT_EQ(Get(session.id()).tokens(), 16);
  EXPECT_EQ(Get(fork.id()).tokens(), 21);
}

// Clients name sessions so that a create reaches the replica that later requests will.
TEST_F(SessionTest, ClientChosenIdsAreCheckedAndKept) {
  EXPECT_EQ(Create("chat-42").id(), "chat-42");
  grpc::Status status;
  Create("chat-42", &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS) << status.error_message();
  for (const std::string& bad :
       {std::string("a.b"), std::string("with space"), std::string(65, 'x')}) {
    Create(bad, &status);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad;
    EXPECT_NE(status.error_message().find("session id"), std::string::npos);
  }
  // The client picks a fresh id for create unless given one, and prints it.
  const Outcome named = RunClient("--target " + server_->target() + " session create mine");
  ASSERT_EQ(named.exit_code, 0) << named.output;
  EXPECT_EQ(nlohmann::json::parse(named.output)["id"], "mine");
  const Outcome fresh = RunClient("--target " + server_->target() + " session create");
  ASSERT_EQ(fresh.exit_code, 0) << fresh.output;
  EXPECT_EQ(nlohmann::json::parse(fresh.output)["id"].get<std::string>().size(), 32u);
}

// A document streamed into a session in pieces is context like any prompt: continuing after
// it equals one request on the document and the continuation's prompt.
TEST_F(SessionTest, AppendedPiecesAreContextForTheNextTurn) {
  const v1::Session session = Create("doc");
  auto append = [&](const std::vector<v1::AppendRequest>& pieces, v1::Session* out) {
    grpc::ClientContext context;
    auto writer = stub_->AppendToSession(&context, out);
    for (const v1::AppendRequest& piece : pieces) writer->Write(piece);
    writer->WritesDone();
    return writer->Finish();
  };
  auto ids_piece = [](const std::string& session, std::vector<int32_t> ids) {
    v1::AppendRequest piece;
    piece.set_session_id(session);
    piece.mutable_ids()->mutable_ids()->Assign(ids.begin(), ids.end());
    return piece;
  };
  v1::Session appended;
  ASSERT_TRUE(append({ids_piece("doc", {11, 12, 13}), ids_piece("", {14, 15})}, &appended).ok());
  EXPECT_EQ(appended.tokens(), 5);
  const StubResult continued = Turn("doc", {21, 22}, 6);
  const StubResult at_once = Generate(*stub_, GreedyRequest({11, 12, 13, 14, 15, 21, 22}, 6));
  ASSERT_TRUE(continued.status.ok() && at_once.status.ok());
  EXPECT_EQ(continued.ids, at_once.ids);

  struct Case {
    std::vector<v1::AppendRequest> pieces;
    grpc::StatusCode code;
  };
  v1::AppendRequest text;
  text.set_session_id("doc");
  text.set_text("no tokenizer here");
  const std::vector<Case> cases = {
      {{ids_piece("nope", {1})}, grpc::StatusCode::NOT_FOUND},
      {{ids_piece("", {1})}, grpc::StatusCode::INVALID_ARGUMENT},
      {{ids_piece("doc", {1}), ids_piece("other", {2})}, grpc::StatusCode::INVALID_ARGUMENT},
      {{ids_piece("doc", {1, 4096})}, grpc::StatusCode::INVALID_ARGUMENT},
      {{text}, grpc::StatusCode::FAILED_PRECONDITION},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    v1::Session out;
    EXPECT_EQ(append(cases[i].pieces, &out).error_code(), cases[i].code) << "case " << i;
  }
  EXPECT_FALSE(Get("doc").busy());
}

TEST_F(SessionTest, OneRequestAtATimeAndClearErrors) {
  const v1::Session session = Create();
  grpc::ClientContext long_context;
  v1::GenerateRequest long_request = GreedyRequest({1, 2}, 1 << 20);
  long_request.set_session_id(session.id());
  auto long_stream = stub_->Generate(&long_context, long_request);
  v1::GenerateResponse first;
  ASSERT_TRUE(long_stream->Read(&first));

  const StubResult busy = Turn(session.id(), {3}, 2);
  EXPECT_EQ(busy.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(busy.status.error_message().find("busy"), std::string::npos);
  grpc::ClientContext delete_context;
  v1::DeleteSessionRequest delete_request;
  delete_request.set_id(session.id());
  v1::DeleteSessionResponse deleted;
  EXPECT_EQ(stub_->DeleteSession(&delete_context, delete_request, &deleted).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(Get(session.id()).busy());

  long_context.TryCancel();
  long_stream->Finish();
  for (int i = 0; i < 100 && Get(session.id()).busy(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_FALSE(Get(session.id()).busy());  // the cancelled turn released the session
  EXPECT_TRUE(Turn(session.id(), {3}, 2).status.ok());

  grpc::ClientContext delete_again;
  EXPECT_TRUE(stub_->DeleteSession(&delete_again, delete_request, &deleted).ok());
  grpc::Status status;
  Get(session.id(), &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Turn(session.id(), {3}, 2).status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Turn("no-such-session", {3}, 2).status.error_code(), grpc::StatusCode::NOT_FOUND);
}

// Export from one server process, import into another: the conversation continues identically.
TEST_F(SessionTest, ExportedSessionContinuesIdenticallyInAnotherProcess) {
  const v1::Session session = Create();
  ASSERT_TRUE(Turn(session.id(), {7, 8, 9}, 5).status.ok());
  const std::string path = testing::MakeTempDir("export") + "/state.bin";
  ASSERT_EQ(
      RunClient("--target " + server_->target() + " session export " + session.id() + " > " + path)
          .exit_code,
      0);

  ServerProcess other({"--model", testing::FixturePath(kFixture)});
  ASSERT_NE(other.port(), 0) << other.output();
  const Outcome imported = RunClient("--target " + other.target() + " session import < " + path);
  ASSERT_EQ(imported.exit_code, 0) << imported.output;
  const nlohmann::json info = nlohmann::json::parse(imported.output);
  EXPECT_EQ(info["tokens"], 8);

  auto other_stub = v1::Inference::NewStub(
      grpc::CreateChannel(other.target(), grpc::InsecureChannelCredentials()));
  v1::GenerateRequest request = GreedyRequest({10, 11}, 9);
  request.set_session_id(info["id"].get<std::string>());
  const StubResult there = Generate(*other_stub, request);
  const StubResult here = Turn(session.id(), {10, 11}, 9);
  ASSERT_TRUE(there.status.ok() && here.status.ok()) << there.status.error_message();
  EXPECT_EQ(there.ids, here.ids);

  // Another model refuses it; damaged bytes are refused too.
  ServerProcess mamba1({"--model", testing::FixturePath("mamba1_tied_k4_f32")});
  const Outcome wrong_model =
      RunClient("--target " + mamba1.target() + " session import < " + path);
  EXPECT_EQ(wrong_model.exit_code, 1);
  EXPECT_NE(wrong_model.output.find("FAILED_PRECONDITION"), std::string::npos)
      << wrong_model.output;
  const Outcome damaged =
      RunClient("--target " + other.target() + " session import < <(head -c 100 " + path + ")");
  EXPECT_EQ(damaged.exit_code, 1);
  EXPECT_NE(damaged.output.find("INVALID_ARGUMENT"), std::string::npos) << damaged.output;
}

// A state far larger than the message size limit moves in pieces: a Mamba-2 130M-shaped model
// has 19 MB of state per session; messages are capped at 1 MiB here.
TEST(SessionTransferTest, StatesLargerThanAMessageMoveInPieces) {
  ServerProcess server({"--model", "random:mamba2-130m", "--max-message-bytes", "1048576"});
  ASSERT_NE(server.port(), 0) << server.output();
  const std::string target = "--target " + server.target();
  ASSERT_EQ(RunClient(target + " session create big").exit_code, 0);
  ASSERT_EQ(
      RunClient(target + " generate --prompt-ids 5,6,7 --max-tokens 3 --session big").exit_code, 0);
  const std::string path = testing::MakeTempDir("transfer") + "/big.state";
  const Outcome exported = RunClient(target + " session export big > " + path);
  ASSERT_EQ(exported.exit_code, 0) << exported.output;
  EXPECT_GT(std::filesystem::file_size(path), 16u << 20);
  const Outcome imported = RunClient(target + " session import copy < " + path);
  ASSERT_EQ(imported.exit_code, 0) << imported.output;
  EXPECT_EQ(nlohmann::json::parse(imported.output)["tokens"], 6);
  const std::string next = " generate --prompt-ids 9 --max-tokens 4 --json --session ";
  const Outcome original = RunClient(target + next + "big");
  const Outcome copy = RunClient(target + next + "copy");
  ASSERT_EQ(original.exit_code, 0) << original.output;
  EXPECT_EQ(JsonLines(original.output).back()["token_ids"],
            JsonLines(copy.output).back()["token_ids"]);
}

// Limits on what one request may carry: prompt tokens (a flag) and message bytes (gRPC's own,
// set by a flag), and text must be UTF-8.
TEST(ServerLimitsTest, OversizedPromptsAndMessagesAndBadTextAreRefused) {
  ServerProcess server({"--model", testing::DemoModelDir(), "--max-prompt-tokens", "100",
                        "--max-message-bytes", "1048576"});
  ASSERT_NE(server.port(), 0) << server.output();
  auto stub = v1::Inference::NewStub(
      grpc::CreateChannel(server.target(), grpc::InsecureChannelCredentials()));
  const StubResult long_prompt = Generate(*stub, GreedyRequest(std::vector<int32_t>(101, 7), 2));
  EXPECT_EQ(long_prompt.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(long_prompt.status.error_message().find("over the limit of 100"), std::string::npos)
      << long_prompt.status.error_message();
  // 600,000 ids of two varint bytes each: over the 1 MiB message limit.
  const StubResult huge = Generate(*stub, GreedyRequest(std::vector<int32_t>(600000, 300), 2));
  EXPECT_EQ(huge.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << huge.status.error_message();
  v1::GenerateRequest bad_text;
  bad_text.set_prompt("Once \xff upon");
  bad_text.set_max_tokens(2);
  const StubResult bad = Generate(*stub, bad_text);
  EXPECT_EQ(bad.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(bad.status.error_message().find("not valid UTF-8 (first bad byte at offset 5)"),
            std::string::npos)
      << bad.status.error_message();
  // The server is unharmed.
  EXPECT_TRUE(Generate(*stub, GreedyRequest({1, 2, 3}, 2)).status.ok());
}

// A request whose deadline passes ends with DEADLINE_EXCEEDED and frees its slot: on a
// one-slot server the next request runs at once.
TEST(ServerLimitsTest, DeadlinesFreeTheSlot) {
  ServerProcess server({"--model", testing::FixturePath(kFixture), "--slots", "1"});
  ASSERT_NE(server.port(), 0) << server.output();
  auto stub = v1::Inference::NewStub(
      grpc::CreateChannel(server.target(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(300));
  auto reader = stub->Generate(&context, GreedyRequest({1, 2}, 1 << 20));
  EXPECT_EQ(ReadToEnd(*reader).status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  grpc::ClientContext next_context;
  next_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  const StubResult next = ReadToEnd(*stub->Generate(&next_context, GreedyRequest({3, 4}, 4)));
  EXPECT_TRUE(next.status.ok());
  EXPECT_EQ(next.ids.size(), 4u);
}

// A client that stops reading loses its request once --max-buffered-tokens pile up on the server
// (RESOURCE_EXHAUSTED) rather than holding a slot forever. Without reads (and with the client's
// window kept at its initial 64 KB) the server's writes stall after a few thousand messages.
TEST(ServerLimitsTest, AStreamNobodyReadsEndsWithResourceExhausted) {
  ServerProcess server(
      {"--model", testing::FixturePath(kFixture), "--slots", "1", "--max-buffered-tokens", "32"});
  ASSERT_NE(server.port(), 0) << server.output();
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  auto stub = v1::Inference::NewStub(
      grpc::CreateCustomChannel(server.target(), grpc::InsecureChannelCredentials(), args));
  grpc::ClientContext context;
  auto reader = stub->Generate(&context, GreedyRequest({1, 2}, 1 << 20));
  // Read nothing until the server has given up on the request (the engine counts it cancelled).
  const std::regex cancelled("ssm_request_errors_total\\{code=\"cancelled\"\\} [1-9]");
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!std::regex_search(server.ScrapeMetrics(), cancelled) &&
         std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const grpc::Status status = ReadToEnd(*reader).status;
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  EXPECT_NE(status.error_message().find("too slowly"), std::string::npos) << status.error_message();
}

// Without a host tier, sessions are capped by the slots.
TEST(SessionLimitsTest, SessionsAreCappedBySlotsWithoutAHostTier) {
  ServerProcess server(
      {"--model", testing::FixturePath(kFixture), "--slots", "8", "--host-tier-bytes", "0"});
  ASSERT_NE(server.port(), 0) << server.output();
  const std::string target = "--target " + server.target();
  std::vector<std::string> ids;
  for (int i = 0; i < 8; ++i) {
    const Outcome created = RunClient(target + " session create");
    ASSERT_EQ(created.exit_code, 0) << created.output;
    ids.push_back(nlohmann::json::parse(created.output)["id"]);
  }
  const Outcome full = RunClient(target + " session create");
  EXPECT_EQ(full.exit_code, 1);
  EXPECT_NE(full.output.find("RESOURCE_EXHAUSTED"), std::string::npos) << full.output;
  EXPECT_NE(full.output.find("no free state slot"), std::string::npos) << full.output;
  // The client lists them and can delete one, which frees a slot.
  const Outcome list = RunClient(target + " session list");
  EXPECT_EQ(std::count(list.output.begin(), list.output.end(), '\n'), 8) << list.output;
  EXPECT_EQ(RunClient(target + " session delete " + ids[0]).exit_code, 0);
  const Outcome created = RunClient(target + " session create");
  EXPECT_EQ(created.exit_code, 0) << created.output;
}

// With a host tier, idle sessions beyond the slots wait in host memory and come back intact:
// two slots serve four conversations, each turn moving others out, and every continuation
// equals one request on the whole context.
TEST(SessionLimitsTest, HostTierKeepsIdleSessionsBeyondTheSlots) {
  ServerProcess server({"--model", testing::FixturePath(kFixture), "--slots", "2"});
  ASSERT_NE(server.port(), 0) << server.output();
  auto stub = v1::Inference::NewStub(
      grpc::CreateChannel(server.target(), grpc::InsecureChannelCredentials()));
  const std::string target = "--target " + server.target();
  for (int s = 0; s < 4; ++s) {
    ASSERT_EQ(RunClient(target + " session create s" + std::to_string(s)).exit_code, 0);
  }
  const Outcome list = RunClient(target + " session list");
  EXPECT_EQ(std::count(list.output.begin(), list.output.end(), 'h'), 2) << list.output;  // "host"
  std::vector<std::vector<int32_t>> context(4);
  auto turn = [&](int s, std::vector<int32_t> prompt) {
    v1::GenerateRequest request = GreedyRequest(prompt, 5);
    request.set_session_id("s" + std::to_string(s));
    const StubResult r = Generate(*stub, request);
    EXPECT_TRUE(r.status.ok()) << r.status.error_message();
    context[s].insert(context[s].end(), prompt.begin(), prompt.end());
    return r.ids;
  };
  for (int s = 0; s < 4; ++s) {
    const std::vector<int32_t> out = turn(s, {10 + s, 20 + s, 30 + s});
    context[s].insert(context[s].end(), out.begin(), out.end());
  }
  for (int s = 0; s < 4; ++s) {
    const std::vector<int32_t> second = turn(s, {40 + s});
    const StubResult at_once = Generate(*stub, GreedyRequest(context[s], 5));
    ASSERT_TRUE(at_once.status.ok());
    EXPECT_EQ(second, at_once.ids) << "session s" << s;
  }
  // Four sessions in two slots (and temporary requests take slots too): two or more wait on the
  // host at any time.
  const std::string metrics = server.ScrapeMetrics();
  std::smatch host;
  ASSERT_TRUE(
      std::regex_search(metrics, host, std::regex("ssm_sessions\\{tier=\"host\"\\} (\\d+)")))
      << metrics;
  EXPECT_GE(std::stoi(host[1]), 2) << metrics;
}

// Text features need a tokenizer: the fixture model with a one-token-per-byte tokenizer.
class TextServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string dir = testing::CopyFixture(kFixture, "text_model");
    testing::WriteByteTokenizer(dir + "/tokenizer.json");
    server_ = std::make_unique<ServerProcess>(std::vector<std::string>{"--model", dir});
    ASSERT_NE(server_->port(), 0) << server_->output();
    stub_ = v1::Inference::NewStub(
        grpc::CreateChannel(server_->target(), grpc::InsecureChannelCredentials()));
  }

  // Greedy generation of a text prompt; returns the concatenated text.
  std::string Text(v1::GenerateRequest request, v1::FinishReason* finish = nullptr) {
    grpc::ClientContext context;
    auto reader = stub_->Generate(&context, request);
    std::string text;
    v1::GenerateResponse message;
    while (reader->Read(&message)) {
      text += message.text();
      if (finish != nullptr && message.finish_reason() != v1::FINISH_REASON_UNSPECIFIED) {
        *finish = message.finish_reason();
      }
    }
    EXPECT_TRUE(reader->Finish().ok());
    return text;
  }

  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<v1::Inference::Stub> stub_;
};

TEST_F(TextServerTest, StopStringEndsTheTextBeforeIt) {
  v1::GenerateRequest request;
  request.set_prompt("Tell me");
  request.set_max_tokens(40);
  request.set_ignore_eos(true);
  const std::string full = Text(request);
  // A stop string from the middle of the output: its 5th and 6th characters, which span several
  // tokens (one per byte here). Whole characters, since proto strings must be UTF-8.
  size_t begin = 0, end = 0;
  for (int c = 0; c < 6 && end < full.size(); ++c) {
    if (c == 4) begin = end;
    utf8::Next(full, end);
  }
  ASSERT_GT(end, begin);
  const std::string stop = full.substr(begin, end - begin);
  request.add_stop(stop);
  v1::FinishReason finish = v1::FINISH_REASON_UNSPECIFIED;
  const std::string stopped = Text(request, &finish);
  EXPECT_EQ(finish, v1::FINISH_REASON_STOP);
  EXPECT_EQ(stopped, full.substr(0, full.find(stop)));
}

TEST_F(TextServerTest, TokenizeDetokenizeAndModelInfo) {
  grpc::ClientContext tokenize_context;
  v1::TokenizeRequest tokenize;
  tokenize.set_text("hi!");
  v1::TokenizeResponse ids;
  ASSERT_TRUE(stub_->Tokenize(&tokenize_context, tokenize, &ids).ok());
  EXPECT_EQ(std::vector<int32_t>(ids.ids().begin(), ids.ids().end()),
            (std::vector<int32_t>{'h', 'i', '!'}));  // one token per byte
  grpc::ClientContext bad_text_context;
  tokenize.set_text("ok\xc3");
  const grpc::Status bad = stub_->Tokenize(&bad_text_context, tokenize, &ids);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(bad.error_message().find("UTF-8"), std::string::npos) << bad.error_message();

  grpc::ClientContext detokenize_context;
  v1::DetokenizeRequest detokenize;
  for (int32_t id : {'o', 'k'}) detokenize.add_ids(id);
  v1::DetokenizeResponse text;
  ASSERT_TRUE(stub_->Detokenize(&detokenize_context, detokenize, &text).ok());
  EXPECT_EQ(text.text(), "ok");
  grpc::ClientContext bad_context;
  detokenize.add_ids(100000);
  EXPECT_EQ(stub_->Detokenize(&bad_context, detokenize, &text).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  grpc::ClientContext info_context;
  v1::ModelInfo info;
  ASSERT_TRUE(stub_->GetModelInfo(&info_context, {}, &info).ok());
  EXPECT_EQ(info.architecture(), "mamba2");
  EXPECT_EQ(info.vocab_size(), 256);
  EXPECT_EQ(info.n_layer(), 2);
  EXPECT_TRUE(info.has_tokenizer());
  EXPECT_GT(info.state_bytes_per_session(), 0);
}

// The same through ssm-client: tokenize (from --text and from stdin), detokenize, info, and a
// bad id's status on stderr.
TEST_F(TextServerTest, ClientTokenizesDetokenizesAndDescribesTheModel) {
  const std::string target = "--target " + server_->target();
  const Outcome tokenized = RunClient(target + " tokenize --text 'hi!'");
  ASSERT_EQ(tokenized.exit_code, 0) << tokenized.output;
  EXPECT_EQ(nlohmann::json::parse(tokenized.output),
            (nlohmann::json{{"ids", {'h', 'i', '!'}}, {"count", 3}}));
  const Outcome from_stdin = RunClient(target + " tokenize <<< 'ok'");
  ASSERT_EQ(from_stdin.exit_code, 0) << from_stdin.output;
  EXPECT_EQ(nlohmann::json::parse(from_stdin.output)["ids"],
            (nlohmann::json{'o', 'k', '\n'}));  // the here-string's newline is text too
  const Outcome text = RunClient(target + " detokenize --ids 111,107");
  ASSERT_EQ(text.exit_code, 0) << text.output;
  EXPECT_EQ(nlohmann::json::parse(text.output)["text"], "ok");
  const Outcome info = RunClient(target + " info");
  ASSERT_EQ(info.exit_code, 0) << info.output;
  const nlohmann::json model = nlohmann::json::parse(info.output);
  EXPECT_EQ(model["architecture"], "mamba2");
  EXPECT_EQ(model["vocab_size"], 256);
  EXPECT_EQ(model["has_tokenizer"], true);
  const Outcome bad = RunClient(target + " detokenize --ids 1,100000");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("INVALID_ARGUMENT"), std::string::npos) << bad.output;
}

TEST_F(ServerTest, TokenizeWithoutATokenizerIsAFailedPrecondition) {
  grpc::ClientContext context;
  v1::TokenizeRequest request;
  request.set_text("hi");
  v1::TokenizeResponse response;
  const grpc::Status status = stub_->Tokenize(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(status.error_message().find("tokenizer.json"), std::string::npos);
  const Outcome client = RunClient("--target " + server_->target() + " tokenize --text hi");
  EXPECT_EQ(client.exit_code, 1);
  EXPECT_NE(client.output.find("FAILED_PRECONDITION"), std::string::npos) << client.output;
}

TEST_F(TextServerTest, MinTokensHoldsBackStopIds) {
  v1::GenerateRequest request;
  request.set_prompt("Once");
  request.set_max_tokens(10);
  request.set_ignore_eos(true);
  const StubResult free_run = Generate(*stub_, request);
  ASSERT_TRUE(free_run.status.ok());
  const std::vector<int32_t>& ids = free_run.ids;
  // Make the first greedy token a stop id: without min_tokens the request ends at once.
  request.add_stop_token_ids(ids[0]);
  v1::FinishReason finish;
  Text(request, &finish);
  EXPECT_EQ(finish, v1::FINISH_REASON_STOP);
  request.set_min_tokens(3);
  const StubResult held_back = Generate(*stub_, request);
  ASSERT_TRUE(held_back.status.ok());
  const std::vector<int32_t>& held = held_back.ids;
  ASSERT_GE(held.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_NE(held[i], ids[0]) << i;
}

// The value of an unlabelled sample in Prometheus text format, or -1 when absent.
double Sample(const std::string& metrics, const std::string& name) {
  std::smatch match;
  if (!std::regex_search(metrics, match, std::regex("\n" + name + " ([0-9.e+-]+)"))) return -1;
  return std::stod(match[1]);
}

TEST_F(ServerTest, MetricsCountWhatHappened) {
  ASSERT_NE(server_->metrics_port(), 0) << server_->output();
  ASSERT_TRUE(Generate(*stub_, GreedyRequest({1, 2, 3}, 5)).status.ok());
  ASSERT_TRUE(Generate(*stub_, GreedyRequest({4, 5}, 7)).status.ok());
  EXPECT_FALSE(Generate(*stub_, GreedyRequest({}, 5)).status.ok());
  const std::string metrics = server_->ScrapeMetrics();
  ASSERT_NE(metrics.find("200 OK"), std::string::npos) << metrics;
  EXPECT_EQ(Sample(metrics, "ssm_prompt_tokens_total"), 5);
  EXPECT_EQ(Sample(metrics, "ssm_generation_tokens_total"), 12);
  EXPECT_EQ(Sample(metrics, "ssm_time_to_first_token_seconds_count"), 2);
  EXPECT_EQ(Sample(metrics, "ssm_e2e_request_latency_seconds_count"), 2);
  EXPECT_EQ(Sample(metrics, "ssm_inter_token_latency_seconds_count"), 4 + 6);
  EXPECT_GE(Sample(metrics, "ssm_step_duration_seconds_count"), 7);
  // Each request decodes several steps in a row: the host time between them is measured.
  EXPECT_GE(Sample(metrics, "ssm_step_host_seconds_count"), 4 + 6);
  EXPECT_EQ(Sample(metrics, "ssm_num_requests_running"), 0);
  EXPECT_EQ(Sample(metrics, "ssm_num_requests_waiting"), 0);
  EXPECT_EQ(Sample(metrics, "ssm_state_pool_slots"), 8);
  EXPECT_NE(metrics.find("ssm_requests_finished_total{finish_reason=\"length\"} 2"),
            std::string::npos);
  EXPECT_NE(metrics.find("ssm_request_errors_total{code=\"invalid_argument\"} 1"),
            std::string::npos);
  EXPECT_NE(metrics.find("ssm_build_info{version="), std::string::npos);
}

// The Grafana dashboard (deploy/grafana/) charts only metrics this server exports: every ssm_*
// name in its queries, less a histogram's _bucket/_sum/_count suffix, has a # TYPE line in a
// live scrape. Labelled series appear once used, so a request and an error come first.
TEST_F(ServerTest, DashboardQueriesNameExportedMetrics) {
  ASSERT_TRUE(Generate(*stub_, GreedyRequest({1, 2}, 2)).status.ok());
  EXPECT_FALSE(Generate(*stub_, GreedyRequest({}, 2)).status.ok());
  const std::string metrics = server_->ScrapeMetrics();
  std::ifstream in(testing::SourceDir() + "/deploy/grafana/dashboards/ssm-serve.json");
  ASSERT_TRUE(in) << "dashboard not found";
  const nlohmann::json dashboard = nlohmann::json::parse(in);
  const std::regex metric_name("ssm_[a-z0-9_]+");
  const std::regex histogram_suffix("_(bucket|sum|count)$");
  int names = 0;
  for (const nlohmann::json& panel : dashboard.at("panels")) {
    for (const nlohmann::json& target : panel.at("targets")) {
      const std::string expr = target.at("expr");
      for (std::sregex_iterator it(expr.begin(), expr.end(), metric_name), end; it != end; ++it) {
        const std::string name = std::regex_replace(it->str(), histogram_suffix, "");
        EXPECT_NE(metrics.find("# TYPE " + name + " "), std::string::npos)
            << "panel \"" << panel.at("title").get<std::string>() << "\" queries " << name;
        ++names;
      }
    }
  }
  EXPECT_GE(names, 10);
}

TEST(ServerLimitsTest, FullQueueIsResourceExhaustedAndCancelFreesTheSlot) {
  ServerProcess server(
      {"--model", testing::FixturePath(kFixture), "--slots", "1", "--max-queue", "1"});
  ASSERT_NE(server.port(), 0) << server.output();
  auto stub = v1::Inference::NewStub(
      grpc::CreateChannel(server.target(), grpc::InsecureChannelCredentials()));
  // A long request holds the only slot; read one message so it is surely running.
  grpc::ClientContext long_context;
  auto long_stream = stub->Generate(&long_context, GreedyRequest({1, 2}, 1 << 20));
  v1::GenerateResponse first;
  ASSERT_TRUE(long_stream->Read(&first));
  // The next one waits in the queue; the one after that finds the queue full.
  grpc::ClientContext queued_context;
  auto queued = stub->Generate(&queued_context, GreedyRequest({3}, 2));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const StubResult refused = Generate(*stub, GreedyRequest({4}, 2));
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << refused.status.error_message();
  // Cancelling the long stream frees the slot: the queued request then completes.
  long_context.TryCancel();
  long_stream->Finish();
  const StubResult completed = ReadToEnd(*queued);
  EXPECT_TRUE(completed.status.ok());
  EXPECT_EQ(completed.ids.size(), 2u);
}

TEST(ServerLimitsTest, IdleSessionsExpire) {
  ServerProcess server(
      {"--model", testing::FixturePath(kFixture), "--session-ttl-seconds", "1", "--slots", "1"});
  ASSERT_NE(server.port(), 0) << server.output();
  auto stub = v1::Inference::NewStub(
      grpc::CreateChannel(server.target(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext create_context;
  v1::Session session;
  ASSERT_TRUE(stub->CreateSession(&create_context, {}, &session).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(3000));
  grpc::ClientContext get_context;
  v1::GetSessionRequest get;
  get.set_id(session.id());
  v1::Session found;
  EXPECT_EQ(stub->GetSession(&get_context, get, &found).error_code(), grpc::StatusCode::NOT_FOUND);
  grpc::ClientContext again;  // its slot (the only one) is free again
  EXPECT_TRUE(stub->CreateSession(&again, {}, &session).ok());
}

TEST(ServerSecurityTest, TlsAndBearerToken) {
  const std::string dir = testing::MakeTempDir("tls");
  const Outcome cert = testing::RunCommand(
      "openssl", "req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -keyout " + dir +
                     "/key.pem -out " + dir + "/cert.pem -addext subjectAltName=DNS:localhost");
  ASSERT_EQ(cert.exit_code, 0) << cert.output;
  testing::WriteFile(dir + "/token", "s3cret\n");
  ServerProcess server({"--model", testing::FixturePath(kFixture), "--tls-cert", dir + "/cert.pem",
                        "--tls-key", dir + "/key.pem", "--bearer-token-file", dir + "/token"});
  ASSERT_NE(server.port(), 0) << server.output();
  const std::string tls = "--target " + server.target() + " --tls-ca " + dir + "/cert.pem ";
  const std::string generate = "generate --prompt-ids 1,2 --max-tokens 3 --json";

  const Outcome ok = RunClient(tls + generate + "", "s3cret");
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  const Outcome no_token = RunClient(tls + generate);
  EXPECT_EQ(no_token.exit_code, 1);
  EXPECT_NE(no_token.output.find("UNAUTHENTICATED"), std::string::npos) << no_token.output;
  const Outcome wrong_token = RunClient(tls + "session create", "guess");
  EXPECT_NE(wrong_token.output.find("UNAUTHENTICATED"), std::string::npos) << wrong_token.output;
  const Outcome health = RunClient(tls + "health");  // probes need no token
  EXPECT_EQ(health.exit_code, 0) << health.output;
  const Outcome plaintext = RunClient("--target " + server.target() + " health");
  EXPECT_NE(plaintext.exit_code, 0) << plaintext.output;
}

TEST(ServerLifecycleTest, SigtermDrainsAndExitsCleanly) {
  ServerProcess server({"--model", testing::FixturePath(kFixture), "--drain-seconds", "2"});
  ASSERT_NE(server.port(), 0) << server.output();
  EXPECT_EQ(server.Stop(), 0) << server.output();
  EXPECT_NE(server.output().find("draining"), std::string::npos) << server.output();
}

}  // namespace
}  // namespace ssm
