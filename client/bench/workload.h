#ifndef SSM_CLIENT_BENCH_WORKLOAD_H_
#define SSM_CLIENT_BENCH_WORKLOAD_H_

#include <cstdint>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "client/bench/options.h"

namespace ssm::bench {

// One request's input and length: random token ids of the drawn input length, or a prompt
// from the dataset file (text, for a server with a tokenizer).
struct RequestSpec {
  std::vector<int32_t> prompt_ids;
  std::string prompt_text;
  int max_tokens = 0;
  uint64_t sampling_seed = 0;
};

// Draws requests and arrival gaps from one seeded stream, so a run can be repeated. Safe to
// call from several threads.
class Workload {
 public:
  // dataset: the prompts to cycle through; empty: random ids below vocab_size.
  Workload(const Options& options, int64_t vocab_size, std::vector<std::string> dataset);

  RequestSpec Next();
  // Seconds to the next arrival at `rate` requests per second: gamma-distributed with shape
  // `burstiness` and mean 1 / rate (shape 1 is a Poisson process; below 1 burstier).
  double NextGap(double rate);

 private:
  int DrawLength(int mean);

  Options options_;
  int64_t vocab_size_;
  std::vector<std::string> dataset_;
  size_t next_prompt_ = 0;
  std::mutex mutex_;
  std::mt19937_64 random_;
};

// The non-empty lines of a file; empty if it cannot be read.
std::vector<std::string> ReadPrompts(const std::string& path);

}  // namespace ssm::bench

#endif  // SSM_CLIENT_BENCH_WORKLOAD_H_
