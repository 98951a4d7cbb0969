#ifndef SSM_CLIENT_BENCH_REPORT_H_
#define SSM_CLIENT_BENCH_REPORT_H_

#include <cstdio>
#include <string>
#include <vector>

#include "client/bench/load_generator.h"
#include "client/bench/options.h"
#include "nlohmann/json.hpp"

namespace ssm::bench {

// The figures of one run, as JSON (the --output file; the table prints from it). Latencies in
// seconds. Definitions:
//   TTFT: request sent to first token received; ITL: gaps between consecutive streamed
//   messages that carry tokens; TPOT: (e2e - TTFT) / (output tokens - 1), per request with at
//   least two tokens; e2e: request sent to stream end; goodput: completed requests per second
//   that met every SLO given.
nlohmann::json BuildReport(const RunResult& run, const Options& options, double rate);

void PrintTable(const nlohmann::json& report, std::FILE* out);

// For --sweep-rates: one CSV row per rate, and a latency-vs-throughput chart (SVG).
bool WriteSweepCsv(const std::vector<nlohmann::json>& reports, const std::string& path);
bool WriteSweepSvg(const std::vector<nlohmann::json>& reports, const std::string& path);

}  // namespace ssm::bench

#endif  // SSM_CLIENT_BENCH_REPORT_H_
