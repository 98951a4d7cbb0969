#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "engine/tokenizer/tokenizer.h"
#include "nlohmann/json.hpp"
#include "server/ssm_run/commands.h"

namespace ssm::run {
namespace {

int Fail(const char* command, const absl::Status& status) {
  std::fprintf(stderr, "ssm-run %s: %s\n", command, std::string(status.message()).c_str());
  return 1;
}

std::string ReadAll(std::istream& in) {
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

int Tokenize(const std::string& path) {
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = Tokenizer::Load(path);
  if (!tokenizer.ok()) return Fail("tokenize", tokenizer.status());
  absl::StatusOr<std::vector<int32_t>> ids = (*tokenizer)->Encode(ReadAll(std::cin));
  if (!ids.ok()) return Fail("tokenize", ids.status());
  std::cout << nlohmann::json(*ids).dump() << "\n";
  return 0;
}

int Detokenize(const std::string& path) {
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = Tokenizer::Load(path);
  if (!tokenizer.ok()) return Fail("detokenize", tokenizer.status());
  const nlohmann::json ids = nlohmann::json::parse(ReadAll(std::cin), nullptr, false);
  if (!ids.is_array() || !std::all_of(ids.begin(), ids.end(), [](const nlohmann::json& id) {
        return id.is_number_integer();
      })) {
    return Fail("detokenize", absl::InvalidArgumentError("stdin is not a JSON array of integers"));
  }
  absl::StatusOr<std::string> text = (*tokenizer)->Decode(ids.get<std::vector<int32_t>>());
  if (!text.ok()) return Fail("detokenize", text.status());
  std::cout << *text;
  return 0;
}

// Encode throughput on one thread: the whole file as one text, and line by line.
int Bench(const std::string& path, const std::string& input, int repeat) {
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = Tokenizer::Load(path);
  if (!tokenizer.ok()) return Fail("tokenizer-bench", tokenizer.status());
  std::ifstream file(input, std::ios::binary);
  if (!file) return Fail("tokenizer-bench", absl::NotFoundError(input + ": cannot open"));
  const std::string text = ReadAll(file);
  std::vector<std::string> lines;
  std::istringstream stream(text);
  for (std::string line; std::getline(stream, line);) lines.push_back(line);

  auto best_seconds = [&](auto&& encode) {
    double best = 1e30;
    for (int r = 0; r < repeat; ++r) {
      const auto start = std::chrono::steady_clock::now();
      encode();
      best = std::min(
          best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    return best;
  };
  size_t tokens = 0;
  const double whole = best_seconds([&] { tokens = (*tokenizer)->Encode(text)->size(); });
  const double by_line = best_seconds([&] {
    for (const std::string& line : lines) (*tokenizer)->Encode(line).IgnoreError();
  });
  const double mb = text.size() / 1e6;
  const nlohmann::json report = {{"tokenizer", path},
                                 {"input", input},
                                 {"bytes", text.size()},
                                 {"tokens", tokens},
                                 {"whole_mb_per_s", mb / whole},
                                 {"lines_mb_per_s", mb / by_line}};
  std::cout << report.dump() << "\n";
  return 0;
}

}  // namespace

std::map<std::string, Action> AddTokenizerCommands(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  auto input = std::make_shared<std::string>();
  auto repeat = std::make_shared<int>(3);
  CLI::App* tokenize =
      app.add_subcommand("tokenize", "Reads UTF-8 text on stdin, prints ids as JSON");
  CLI::App* detokenize =
      app.add_subcommand("detokenize", "Reads a JSON array of ids on stdin, prints the text");
  CLI::App* bench = app.add_subcommand(
      "tokenizer-bench", "Encode throughput (MB/s, one thread): whole file and line by line");
  for (CLI::App* cmd : {tokenize, detokenize, bench}) {
    cmd->add_option("--tokenizer", *path, "A Hugging Face tokenizer.json")->required();
  }
  bench->add_option("--input", *input, "Text file to encode")->required();
  bench->add_option("--repeat", *repeat, "Timed runs; the best is reported")
      ->check(CLI::Range(1, 100));
  return {{"tokenize", [path] { return Tokenize(*path); }},
          {"detokenize", [path] { return Detokenize(*path); }},
          {"tokenizer-bench", [path, input, repeat] { return Bench(*path, *input, *repeat); }}};
}

}  // namespace ssm::run
