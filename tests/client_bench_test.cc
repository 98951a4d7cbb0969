// ssm-client bench against a live server on loopback (a fixture model, no tokenizer: random
// token ids), plus the statistics it reports.
#include <cstdio>
#include <fstream>
#include <sstream>

#include "client/bench/latency_stats.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/command.h"
#include "tests/support/fixtures.h"
#include "tests/support/server_process.h"

namespace ssm {
namespace {

using Outcome = testing::CommandOutcome;

TEST(LatencyStatsTest, PercentilesInterpolateLikeNumpy) {
  std::vector<double> values;
  for (int i = 100; i >= 1; --i) values.push_back(i);  // order must not matter
  const bench::Summary s = bench::Summarize(values);
  EXPECT_EQ(s.count, 100);
  EXPECT_DOUBLE_EQ(s.mean, 50.5);
  EXPECT_DOUBLE_EQ(s.p50, 50.5);  // numpy.percentile(range(1, 101), 50)
  EXPECT_NEAR(s.p90, 90.1, 1e-9);
  EXPECT_NEAR(s.p99, 99.01, 1e-9);
  EXPECT_DOUBLE_EQ(s.max, 100);
  EXPECT_EQ(bench::Summarize({}).count, 0);
  EXPECT_DOUBLE_EQ(bench::Summarize({7}).p99, 7);
}

class ClientBenchTest : public ::testing::Test {
 protected:
  void StartServer(std::vector<std::string> extra_flags = {}) {
    std::vector<std::string> flags = {"--model", testing::FixturePath("mamba2_g2_bf16")};
    flags.insert(flags.end(), extra_flags.begin(), extra_flags.end());
    server_ = std::make_unique<testing::ServerProcess>(flags);
    ASSERT_NE(server_->port(), 0) << server_->output();
  }

  // Runs bench with `args`; returns its JSON report.
  nlohmann::json Bench(const std::string& args) {
    const std::string report = testing::MakeTempDir("bench") + "/report.json";
    const Outcome run = testing::RunCommand(
        SSM_CLIENT_BINARY,
        "--target " + server_->target() + " bench --no-progress " + args + " --output " + report);
    EXPECT_EQ(run.exit_code, 0) << run.output;
    output_ = run.output;
    std::ifstream in(report);
    return nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  }

  static void ExpectOrdered(const nlohmann::json& s, const std::string& name) {
    EXPECT_LE(s["p50"].get<double>(), s["p90"].get<double>()) << name;
    EXPECT_LE(s["p90"].get<double>(), s["p99"].get<double>()) << name;
    EXPECT_LE(s["p99"].get<double>(), s["max"].get<double>()) << name;
    EXPECT_GT(s["max"].get<double>(), 0) << name;
  }

  std::unique_ptr<testing::ServerProcess> server_;
  std::string output_;
};

TEST_F(ClientBenchTest, CountsAreExactAndPercentilesOrdered) {
  StartServer({"--slots", "8"});
  const nlohmann::json r = Bench(
      "--concurrency 4 --connections 3 --num-requests 12 --input-len 20 --output-len 9 "
      "--ignore-eos --warmup-requests 3 --temperature 0.8 --top-p 0.9 --top-k 40 --min-p 0.01");
  ASSERT_FALSE(r.is_discarded());
  EXPECT_EQ(r["completed"], 12);  // warm-up requests not counted
  EXPECT_EQ(r["failed"], 0);
  EXPECT_EQ(r["output_tokens"], 12 * 9);
  EXPECT_EQ(r["input_tokens"], 12 * 20);
  EXPECT_EQ(r["ttft"]["count"], 12);
  EXPECT_EQ(r["tpot"]["count"], 12);
  for (const char* metric : {"ttft", "itl", "tpot", "e2e"}) ExpectOrdered(r[metric], metric);
  EXPECT_GT(r["client"]["cpu_seconds_per_token"].get<double>(), 0);
  EXPECT_NE(output_.find("output throughput (tok/s)"), std::string::npos) << output_;
}

TEST_F(ClientBenchTest, RejectedRequestsAreCountedByStatus) {
  StartServer({"--slots", "1", "--max-queue", "1"});
  const nlohmann::json r =
      Bench("--concurrency 8 --num-requests 16 --input-len 4 --output-len 64 --ignore-eos");
  ASSERT_FALSE(r.is_discarded());
  EXPECT_EQ(r["completed"].get<int>() + r["failed"].get<int>(), 16);
  EXPECT_GT(r["failures"].value("RESOURCE_EXHAUSTED", 0), 0) << r.dump();
  EXPECT_EQ(r["failures"].value("RESOURCE_EXHAUSTED", 0), r["failed"]);
}

TEST_F(ClientBenchTest, MultiTurnUsersReportTtftPerTurn) {
  StartServer({"--slots", "8"});
  const nlohmann::json r = Bench(
      "--concurrency 2 --num-requests 12 --turns 3 --input-len 8 --output-len 4 --ignore-eos");
  ASSERT_FALSE(r.is_discarded());
  EXPECT_EQ(r["completed"], 12);
  ASSERT_EQ(r["ttft_by_turn"].size(), 3u);
  for (const nlohmann::json& turn : r["ttft_by_turn"]) EXPECT_EQ(turn["count"], 4);  // 4 users
  // The users' sessions are gone afterwards.
  const Outcome list =
      testing::RunCommand(SSM_CLIENT_BINARY, "--target " + server_->target() + " session list");
  EXPECT_EQ(list.output, "");
}

TEST_F(ClientBenchTest, OpenLoopSweepWritesCsvAndChart) {
  StartServer({"--slots", "8"});
  const std::string dir = testing::MakeTempDir("sweep");
  const Outcome run = testing::RunCommand(
      SSM_CLIENT_BINARY, "--target " + server_->target() +
                             " bench --no-progress --sweep-rates 50,200 --num-requests 10 "
                             "--input-len 8 --output-len 4 --ignore-eos --output " +
                             dir + "/sweep.json");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  std::ifstream json_in(dir + "/sweep.json");
  const nlohmann::json runs = nlohmann::json::parse(json_in);
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0]["mode"], "open");
  EXPECT_EQ(runs[1]["request_rate"], 200.0);
  EXPECT_EQ(runs[1]["completed"], 10);
  std::ifstream csv(dir + "/sweep.json.csv");
  std::string header, row;
  std::getline(csv, header);
  EXPECT_EQ(header.rfind("request_rate,", 0), 0u) << header;
  int rows = 0;
  while (std::getline(csv, row)) ++rows;
  EXPECT_EQ(rows, 2);
  std::stringstream svg;
  svg << std::ifstream(dir + "/sweep.json.svg").rdbuf();
  EXPECT_NE(svg.str().find("<svg"), std::string::npos);
  EXPECT_NE(svg.str().find("<polyline"), std::string::npos);
}

TEST_F(ClientBenchTest, BadFlagCombinationsAreRefused) {
  StartServer();
  const Outcome run = testing::RunCommand(
      SSM_CLIENT_BINARY, "--target " + server_->target() + " bench --turns 2 --request-rate 5");
  EXPECT_NE(run.exit_code, 0);
  EXPECT_NE(run.output.find("--turns"), std::string::npos) << run.output;
  const Outcome bad_top_p = testing::RunCommand(
      SSM_CLIENT_BINARY, "--target " + server_->target() + " bench --top-p 1.5");
  EXPECT_NE(bad_top_p.exit_code, 0);
  EXPECT_NE(bad_top_p.output.find("--top-p"), std::string::npos) << bad_top_p.output;
  const Outcome no_connections = testing::RunCommand(
      SSM_CLIENT_BINARY, "--target " + server_->target() + " bench --connections 0");
  EXPECT_NE(no_connections.exit_code, 0);
  EXPECT_NE(no_connections.output.find("--connections"), std::string::npos)
      << no_connections.output;
}

}  // namespace
}  // namespace ssm
