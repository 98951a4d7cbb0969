#include "tests/support/fixtures.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace ssm::testing {

namespace fs = std::filesystem;

namespace {

// The source tree as built, or SSM_SOURCE_DIR where the tests run from a copy of it (on the
// GPU machine, say).
std::string SourcePath(const std::string& relative, const char* built_in) {
  const char* root = std::getenv("SSM_SOURCE_DIR");
  return root != nullptr ? (fs::path(root) / relative).string() : built_in;
}

}  // namespace

std::string SourceDir() { return SourcePath("", SSM_SOURCE_DIR_BUILT); }

std::string FixturesDir() { return SourcePath("tests/fixtures", SSM_FIXTURES_DIR); }

std::vector<std::string> FixtureNames() {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(FixturesDir())) {
    if (fs::exists(entry.path() / "expected.json")) names.push_back(entry.path().filename());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string FixturePath(const std::string& name) {
  return (fs::path(FixturesDir()) / name).string();
}

std::string DemoModelDir() { return SourcePath("models/tinystories-mamba", SSM_DEMO_MODEL_DIR); }

std::vector<std::string> ReferenceModelDirs() {
  std::vector<std::string> dirs;
  for (const std::string& name : FixtureNames()) dirs.push_back(FixturePath(name));
  dirs.push_back(DemoModelDir());
  return dirs;
}

std::vector<ExpectedPrompt> LoadExpected(const std::string& model_dir) {
  std::ifstream in(fs::path(model_dir) / "expected.json");
  const nlohmann::json json = nlohmann::json::parse(in);
  std::vector<ExpectedPrompt> prompts;
  for (const auto& p : json.at("prompts")) {
    prompts.push_back({p.at("prompt_ids").get<std::vector<int32_t>>(),
                       p.at("prompt_logits").get<std::vector<float>>(),
                       p.at("greedy_ids").get<std::vector<int32_t>>(),
                       p.at("near_tie_step").get<int>(), p.value("prompt_text", ""),
                       p.value("greedy_text", "")});
  }
  return prompts;
}

std::string MakeTempDir(const std::string& name) {
  // Per process: ctest runs tests in parallel processes that share TempDir().
  const fs::path dir = fs::path(::testing::TempDir()) / ("ssm-" + std::to_string(getpid())) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

std::string CopyFixture(const std::string& name, const std::string& to_name) {
  const std::string dir = MakeTempDir(to_name);
  fs::copy(FixturePath(name), dir, fs::copy_options::recursive);
  return dir;
}

}  // namespace ssm::testing
