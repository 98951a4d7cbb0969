// The real ssm-server process on loopback, driven by the real ssm-client and by a gRPC stub.
#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <future>
#include <thread>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "ssm/v1/inference.grpc.pb.h"
#include "tests/support/fixtures.h"
#include "tests/support/server_process.h"

namespace ssm {
namespace {

using testing::ServerProcess;

const char kFixture[] = "mamba2_g2_bf16";  // no near-ties in its greedy continuations

struct Outcome {
  int exit_code;
  std::string output;
};

Outcome RunClient(const std::string& args) {
  FILE* pipe = popen((std::string(SSM_CLIENT_BINARY) + " " + args + " 2>&1").c_str(), "r");
  std::string output;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  const int status = pclose(pipe);
  return {WEXITSTATUS(status), output};
}

std::string Join(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += (s.empty() ? "" : ",") + std::to_string(id);
  return s;
}

// Greedy generation through a stub; returns the ids, or the status on failure.
struct StubResult {
  grpc::Status status;
  std::vector<int32_t> ids;
  v1::FinishReason finish = v1::FINISH_REASON_UNSPECIFIED;
};

StubResult Generate(v1::Inference::Stub& stub, const v1::GenerateRequest& request) {
  grpc::ClientContext context;
  auto reader = stub.Generate(&context, request);
  StubResult result;
  v1::GenerateResponse message;
  while (reader->Read(&message)) {
    result.ids.insert(result.ids.end(), message.token_ids().begin(), message.token_ids().end());
    if (message.finish_reason() != v1::FINISH_REASON_UNSPECIFIED)
      result.finish = message.finish_reason();
  }
  result.status = reader->Finish();
  return result;
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
  for (const testing::ExpectedPrompt& p : testing::LoadExpected(kFixture)) {
    const Outcome run = RunClient("--target " + server_->target() + " generate --prompt-ids " +
                                  Join(p.prompt_ids) + " --max-tokens 24 --ignore-eos --json");
    ASSERT_EQ(run.exit_code, 0) << run.output;
    const nlohmann::json out = nlohmann::json::parse(run.output);
    EXPECT_EQ(out["token_ids"].get<std::vector<int32_t>>(), p.greedy_ids);
    EXPECT_EQ(out["finish_reason"], "FINISH_REASON_LENGTH");
    EXPECT_EQ(out["prompt_tokens"], p.prompt_ids.size());
    EXPECT_EQ(out["generated_tokens"], 24);
  }
}

// 24 requests at once (8 slots, so some queue) each get what transformers computed alone.
TEST_F(ServerTest, ConcurrentRequestsGetTheirOwnResults) {
  const std::vector<testing::ExpectedPrompt> expected = testing::LoadExpected(kFixture);
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
  cases.push_back({GreedyRequest({1}, -3), grpc::StatusCode::INVALID_ARGUMENT, "max_tokens"});
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
  v1::GenerateResponse message;
  int tokens = 0;
  while (queued->Read(&message)) tokens += message.token_ids_size();
  EXPECT_TRUE(queued->Finish().ok());
  EXPECT_EQ(tokens, 2);
}

TEST(ServerLifecycleTest, SigtermDrainsAndExitsCleanly) {
  ServerProcess server({"--model", testing::FixturePath(kFixture), "--drain-seconds", "2"});
  ASSERT_NE(server.port(), 0) << server.output();
  EXPECT_EQ(server.Stop(), 0) << server.output();
  EXPECT_NE(server.output().find("draining"), std::string::npos) << server.output();
}

}  // namespace
}  // namespace ssm
