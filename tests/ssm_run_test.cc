// ssm-run as a user runs it: a real process, its stdout and exit code.
#include <cstdio>
#include <fstream>
#include <string>

#include "engine/tokenizer/utf8.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/byte_tokenizer.h"
#include "tests/support/command.h"
#include "tests/support/fixtures.h"

namespace ssm {
namespace {

using testing::JoinIds;
using Outcome = testing::CommandOutcome;

Outcome RunSsmRun(const std::string& args) { return testing::RunCommand(SSM_RUN_BINARY, args); }

TEST(SsmRunTest, GeneratePrintsTheGreedyContinuationAsJson) {
  const std::string fixture = "mamba2_g2_bf16";
  const testing::ExpectedPrompt p = testing::LoadExpected(testing::FixturePath(fixture))[1];
  const Outcome run =
      RunSsmRun("generate --model " + testing::FixturePath(fixture) + " --prompt-ids " +
                JoinIds(p.prompt_ids) + " --max-new-tokens 24 --print-logits");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const nlohmann::json out = nlohmann::json::parse(run.output);
  EXPECT_EQ(out["generated_ids"].get<std::vector<int32_t>>(), p.greedy_ids);
  EXPECT_EQ(out["prompt_logits"].size(), p.prompt_logits.size());
  EXPECT_EQ(out["prompt_tokens"], p.prompt_ids.size());
}

TEST(SsmRunTest, GenerateTakesTextWhenTheFolderHasATokenizer) {
  const std::string dir = testing::CopyFixture("mamba2_g1_f32", "with_tokenizer");
  testing::WriteByteTokenizer(dir + "/tokenizer.json");
  const Outcome run = RunSsmRun("generate --model " + dir + " --prompt Hi --max-new-tokens 6");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const nlohmann::json out = nlohmann::json::parse(run.output);
  EXPECT_EQ(out["prompt_tokens"], 2);
  std::string bytes, expected_text;  // one byte per id, shown as UTF-8 with U+FFFD for the rest
  for (int32_t id : out["generated_ids"].get<std::vector<int32_t>>()) bytes += char(id);
  utf8::AppendLossy(bytes, /*keep_incomplete_tail=*/false, expected_text);
  EXPECT_EQ(out["text"].get<std::string>(), expected_text);

  const Outcome no_tokenizer =
      RunSsmRun("generate --model " + testing::FixturePath("mamba2_g1_f32") + " --prompt Hi");
  EXPECT_EQ(no_tokenizer.exit_code, 1);
  EXPECT_NE(no_tokenizer.output.find("has no tokenizer.json"), std::string::npos);
}

TEST(SsmRunTest, DemoModelContinuesOnceUponATime) {
  const testing::ExpectedPrompt p = testing::LoadExpected(testing::DemoModelDir()).front();
  ASSERT_EQ(p.prompt_text, "Once upon a time");
  const Outcome run =
      RunSsmRun("generate --model " + testing::DemoModelDir() + " --prompt '" + p.prompt_text +
                "' --max-new-tokens " + std::to_string(p.greedy_ids.size()));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(nlohmann::json::parse(run.output)["text"], p.greedy_text);
}

TEST(SsmRunTest, TokenizeAndDetokenizeThroughStdio) {
  const std::string tokenizer =
      " --tokenizer " + testing::FixturesDir() + "/tokenizer/gpt-neox-20b.json";
  Outcome run = RunSsmRun("tokenize" + tokenizer + " <<< 'Hey how are you doing?'");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(run.output, "[8262,849,403,368,2509,32,187]\n");  // <<< appends a newline (187)
  run = RunSsmRun("detokenize" + tokenizer + " <<< '[12092, 1533]'");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(run.output, "Hello world");
  run = RunSsmRun("detokenize" + tokenizer + " <<< '[1, \"x\"]'");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.output.find("not a JSON array of integers"), std::string::npos) << run.output;
  run = RunSsmRun("detokenize" + tokenizer + " <<< '[99999999]'");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.output.find("outside the vocabulary"), std::string::npos) << run.output;
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
