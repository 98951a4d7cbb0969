#include "client/bench/workload.h"

#include <algorithm>
#include <cmath>
#include <fstream>

namespace ssm::bench {

Workload::Workload(const Options& options, int64_t vocab_size, std::vector<std::string> dataset)
    : options_(options),
      vocab_size_(vocab_size),
      dataset_(std::move(dataset)),
      random_(options.seed) {}

int Workload::DrawLength(int mean) {
  if (options_.len_spread <= 0) return mean;
  std::uniform_real_distribution<double> factor(1 - options_.len_spread, 1 + options_.len_spread);
  return std::max(1, static_cast<int>(std::lround(mean * factor(random_))));
}

RequestSpec Workload::Next() {
  std::lock_guard<std::mutex> lock(mutex_);
  RequestSpec spec;
  spec.max_tokens = DrawLength(options_.output_len);
  spec.sampling_seed = random_();
  if (!dataset_.empty()) {
    spec.prompt_text = dataset_[next_prompt_++ % dataset_.size()];
    return spec;
  }
  std::uniform_int_distribution<int32_t> id(0, static_cast<int32_t>(vocab_size_ - 1));
  spec.prompt_ids.resize(DrawLength(options_.input_len));
  for (int32_t& token : spec.prompt_ids) token = id(random_);
  return spec;
}

double Workload::NextGap(double rate) {
  std::lock_guard<std::mutex> lock(mutex_);
  const double shape = options_.burstiness;
  std::gamma_distribution<double> gap(shape, 1.0 / (rate * shape));
  return gap(random_);
}

std::vector<std::string> ReadPrompts(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> prompts;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) prompts.push_back(line);
  }
  return prompts;
}

}  // namespace ssm::bench
