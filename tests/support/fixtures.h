#ifndef SSM_TESTS_SUPPORT_FIXTURES_H_
#define SSM_TESTS_SUPPORT_FIXTURES_H_

#include <string>
#include <vector>

namespace ssm::testing {

// What transformers computed for one prompt (tools/make_fixtures.py, tools/train_demo_model.py).
struct ExpectedPrompt {
  std::vector<int32_t> prompt_ids;
  std::vector<float> prompt_logits;
  std::vector<int32_t> greedy_ids;
  int near_tie_step = -1;   // first greedy step whose best two logits nearly tie; -1 if none
  std::string prompt_text;  // the demo model's prompts are text; empty for the fixtures
  std::string greedy_text;
};

std::string SourceDir();                  // the source tree (or $SSM_SOURCE_DIR)
std::string FixturesDir();                // tests/fixtures in the source tree
std::vector<std::string> FixtureNames();  // every model folder there, sorted
std::string FixturePath(const std::string& name);
std::string DemoModelDir();  // models/tinystories-mamba in the source tree
// Every model folder with an expected.json: the fixtures and the demo model.
std::vector<std::string> ReferenceModelDirs();
// The expected.json of a model folder.
std::vector<ExpectedPrompt> LoadExpected(const std::string& model_dir);

// A fresh empty directory under the test's temp dir, private to this process.
std::string MakeTempDir(const std::string& name);
// Copies a fixture folder, so a test can damage the copy.
std::string CopyFixture(const std::string& name, const std::string& to_name);

}  // namespace ssm::testing

#endif  // SSM_TESTS_SUPPORT_FIXTURES_H_
