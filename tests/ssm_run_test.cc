// ssm-run as a user runs it: a real process, its stdout and exit code.
#include <cstdio>
#include <string>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/fixtures.h"

namespace ssm {
namespace {

struct Outcome {
  int exit_code;
  std::string output;  // stdout and stderr
};

Outcome RunSsmRun(const std::string& args) {
  const std::string command = std::string(SSM_RUN_BINARY) + " " + args + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
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

TEST(SsmRunTest, GeneratePrintsTheGreedyContinuationAsJson) {
  const std::string fixture = "mamba2_g2_bf16";
  const testing::ExpectedPrompt p = testing::LoadExpected(fixture)[1];
  const Outcome run =
      RunSsmRun("generate --model " + testing::FixturePath(fixture) + " --prompt-ids " +
                Join(p.prompt_ids) + " --max-new-tokens 24 --print-logits");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const nlohmann::json out = nlohmann::json::parse(run.output);
  EXPECT_EQ(out["generated_ids"].get<std::vector<int32_t>>(), p.greedy_ids);
  EXPECT_EQ(out["prompt_logits"].size(), p.prompt_logits.size());
  EXPECT_EQ(out["prompt_tokens"], p.prompt_ids.size());
}

TEST(SsmRunTest, ReportsBadInputAndFails) {
  const std::string model = " --model " + testing::FixturePath("mamba1_tied_k4_f32");
  Outcome run = RunSsmRun("generate --model /nonexistent --prompt-ids 1,2");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.output.find("/nonexistent"), std::string::npos) << run.output;

  run = RunSsmRun("generate" + model + " --prompt-ids 1,x");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.output.find("'x' is not an integer"), std::string::npos) << run.output;

  run = RunSsmRun("generate" + model + " --prompt-ids 1,99999");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.output.find("outside the vocabulary"), std::string::npos) << run.output;

  run = RunSsmRun("generate" + model);
  EXPECT_NE(run.exit_code, 0);
  EXPECT_NE(run.output.find("--prompt"), std::string::npos) << run.output;

  run = RunSsmRun("bench --random mamba-9b");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.output.find("unknown model shape"), std::string::npos) << run.output;
}

}  // namespace
}  // namespace ssm
