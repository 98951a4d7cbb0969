#ifndef SSM_CLIENT_BENCH_OPTIONS_H_
#define SSM_CLIENT_BENCH_OPTIONS_H_

#include <string>
#include <vector>

namespace ssm::bench {

// What `ssm-client bench` runs; the flags are documented in client/main.cc (`bench --help`).
struct Options {
  // Load: closed loop (concurrency) unless a request rate is given (open loop).
  int concurrency = 1;
  // HTTP/2 connections the streams are spread over: gRPC reads one connection's messages on one
  // thread at a time, so a single connection caps the client at about one core.
  int connections = 4;
  double request_rate = 0;  // requests per second; 0: closed loop
  double burstiness = 1;    // gamma shape of the gaps between arrivals; 1 is Poisson
  std::vector<double> sweep_rates;
  // How much: a number of requests, or a duration (then num_requests is ignored).
  int num_requests = 100;
  double duration_seconds = 0;
  int warmup_requests = 0;
  // What each request asks for.
  int input_len = 128;
  int output_len = 128;
  double len_spread = 0;  // lengths uniform in [len x (1 - spread), len x (1 + spread)]
  std::string dataset;    // one prompt per line, sent as text
  bool ignore_eos = false;
  // Sampling: greedy at temperature 0; otherwise each request gets its own seed.
  float temperature = 0.0f;
  int top_k = 0;
  float top_p = 1.0f;
  float min_p = 0.0f;
  int turns = 1;  // > 1: each simulated user keeps one session for this many turns
  uint64_t seed = 1;
  // Service levels for goodput, in seconds; 0: no limit.
  double slo_ttft = 0;
  double slo_tpot = 0;
  // Output.
  std::string output;  // JSON report; with sweep_rates, also OUTPUT.csv and OUTPUT.svg
  bool progress = true;
};

}  // namespace ssm::bench

#endif  // SSM_CLIENT_BENCH_OPTIONS_H_
