#include "client/bench/report.h"

#include <algorithm>
#include <fstream>
#include <map>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "client/bench/latency_stats.h"

namespace ssm::bench {
namespace {

nlohmann::json ToJson(const Summary& s) {
  return {{"count", s.count}, {"mean", s.mean}, {"p50", s.p50},
          {"p90", s.p90},     {"p99", s.p99},   {"max", s.max}};
}

double Tpot(const RequestRecord& r) { return (r.e2e - r.ttft) / (r.output_tokens - 1); }

}  // namespace

nlohmann::json BuildReport(const RunResult& run, const Options& options, double rate) {
  std::vector<double> ttft, itl, tpot, e2e;
  std::map<int, std::vector<double>> ttft_by_turn;
  std::map<std::string, int> failures;
  int completed = 0, good = 0;
  int64_t input_tokens = 0, output_tokens = 0;
  for (const RequestRecord& r : run.records) {
    output_tokens += r.output_tokens;  // streamed, also by requests that failed later
    if (r.code != grpc::StatusCode::OK) {
      ++failures[absl::StatusCodeToString(static_cast<absl::StatusCode>(r.code))];
      continue;
    }
    ++completed;
    input_tokens += r.prompt_tokens;
    e2e.push_back(r.e2e);
    if (r.output_tokens == 0) continue;
    ttft.push_back(r.ttft);
    if (r.turn > 0) ttft_by_turn[r.turn].push_back(r.ttft);
    itl.insert(itl.end(), r.itl.begin(), r.itl.end());
    if (r.output_tokens > 1) tpot.push_back(Tpot(r));
    const bool ttft_ok = options.slo_ttft <= 0 || r.ttft <= options.slo_ttft;
    const bool tpot_ok =
        options.slo_tpot <= 0 || r.output_tokens < 2 || Tpot(r) <= options.slo_tpot;
    good += ttft_ok && tpot_ok;
  }
  const double seconds = std::max(run.seconds, 1e-9);
  nlohmann::json report = {
      {"mode", rate > 0 ? "open" : "closed"},
      {"concurrency", options.concurrency},
      {"request_rate", rate},
      {"burstiness", options.burstiness},
      {"turns", options.turns},
      {"completed", completed},
      {"failed", static_cast<int>(run.records.size()) - completed},
      {"failures", failures},
      {"duration_seconds", run.seconds},
      {"request_throughput", completed / seconds},
      {"input_tokens", input_tokens},
      {"output_tokens", output_tokens},
      {"output_tokens_per_second", output_tokens / seconds},
      {"ttft", ToJson(Summarize(ttft))},
      {"itl", ToJson(Summarize(itl))},
      {"tpot", ToJson(Summarize(tpot))},
      {"e2e", ToJson(Summarize(e2e))},
      {"slo", {{"ttft", options.slo_ttft}, {"tpot", options.slo_tpot}}},
      {"good_requests", good},
      {"goodput_requests_per_second", good / seconds},
      {"client",
       {{"cpu_seconds", run.client_cpu_seconds},
        {"cpu_seconds_per_token", output_tokens > 0 ? run.client_cpu_seconds / output_tokens : 0.0},
        {"tokens_per_second_per_core",
         run.client_cpu_seconds > 0 ? output_tokens / run.client_cpu_seconds : 0.0}}},
  };
  for (const auto& [turn, values] : ttft_by_turn) {
    nlohmann::json row = ToJson(Summarize(values));
    row["turn"] = turn;
    report["ttft_by_turn"].push_back(row);
  }
  return report;
}

void PrintTable(const nlohmann::json& r, std::FILE* out) {
  std::fprintf(
      out, "%-32s %s\n", "load",
      r["mode"] == "open"
          ? absl::StrFormat("open loop, %.2f req/s, burstiness %.2f",
                            r["request_rate"].get<double>(), r["burstiness"].get<double>())
                .c_str()
          : absl::StrFormat("closed loop, concurrency %d", r["concurrency"].get<int>()).c_str());
  std::fprintf(out, "%-32s %d\n", "completed requests", r["completed"].get<int>());
  std::fprintf(out, "%-32s %d", "failed requests", r["failed"].get<int>());
  for (const auto& [code, count] : r["failures"].items()) {
    std::fprintf(out, "  %s: %d", code.c_str(), count.get<int>());
  }
  std::fprintf(out, "\n%-32s %.2f\n", "duration (s)", r["duration_seconds"].get<double>());
  std::fprintf(out, "%-32s %.2f\n", "request throughput (req/s)",
               r["request_throughput"].get<double>());
  std::fprintf(out, "%-32s %lld\n", "input tokens", r["input_tokens"].get<long long>());
  std::fprintf(out, "%-32s %lld\n", "output tokens", r["output_tokens"].get<long long>());
  std::fprintf(out, "%-32s %.1f\n", "output throughput (tok/s)",
               r["output_tokens_per_second"].get<double>());
  if (r["slo"]["ttft"].get<double>() > 0 || r["slo"]["tpot"].get<double>() > 0) {
    std::fprintf(out, "%-32s %.2f (%d requests)\n", "goodput (req/s within SLOs)",
                 r["goodput_requests_per_second"].get<double>(), r["good_requests"].get<int>());
  }
  std::fprintf(out, "\n%-12s %10s %10s %10s %10s %10s\n", "ms", "mean", "p50", "p90", "p99", "max");
  for (const char* metric : {"ttft", "itl", "tpot", "e2e"}) {
    const nlohmann::json& s = r[metric];
    std::fprintf(out, "%-12s %10.2f %10.2f %10.2f %10.2f %10.2f\n", metric,
                 1e3 * s["mean"].get<double>(), 1e3 * s["p50"].get<double>(),
                 1e3 * s["p90"].get<double>(), 1e3 * s["p99"].get<double>(),
                 1e3 * s["max"].get<double>());
  }
  if (r.contains("ttft_by_turn")) {
    std::fprintf(out, "\nTTFT by turn (ms)\n%-12s %10s %10s %10s\n", "turn", "mean", "p50", "p99");
    for (const nlohmann::json& t : r["ttft_by_turn"]) {
      std::fprintf(out, "%-12d %10.2f %10.2f %10.2f\n", t["turn"].get<int>(),
                   1e3 * t["mean"].get<double>(), 1e3 * t["p50"].get<double>(),
                   1e3 * t["p99"].get<double>());
    }
  }
  const nlohmann::json& c = r["client"];
  std::fprintf(out, "\nclient CPU: %.1f us per token (one core could drive %.0f tok/s)\n",
               1e6 * c["cpu_seconds_per_token"].get<double>(),
               c["tokens_per_second_per_core"].get<double>());
}

bool WriteSweepCsv(const std::vector<nlohmann::json>& reports, const std::string& path) {
  std::ofstream out(path);
  out << "request_rate,request_throughput,output_tokens_per_second,ttft_p50,ttft_p99,tpot_p50,"
         "tpot_p99,itl_p99,e2e_p50,e2e_p99,goodput_requests_per_second,failed\n";
  for (const nlohmann::json& r : reports) {
    out << r["request_rate"] << ',' << r["request_throughput"] << ','
        << r["output_tokens_per_second"] << ',' << r["ttft"]["p50"] << ',' << r["ttft"]["p99"]
        << ',' << r["tpot"]["p50"] << ',' << r["tpot"]["p99"] << ',' << r["itl"]["p99"] << ','
        << r["e2e"]["p50"] << ',' << r["e2e"]["p99"] << ',' << r["goodput_requests_per_second"]
        << ',' << r["failed"] << '\n';
  }
  return static_cast<bool>(out);
}

// A line chart: output tokens/s across, milliseconds up, one line per latency percentile.
bool WriteSweepSvg(const std::vector<nlohmann::json>& reports, const std::string& path) {
  struct Series {
    const char* metric;
    const char* percentile;
    const char* color;
  };
  const Series series[] = {{"ttft", "p50", "#1f77b4"},
                           {"ttft", "p99", "#aec7e8"},
                           {"tpot", "p50", "#d62728"},
                           {"tpot", "p99", "#ff9896"}};
  double max_x = 1, max_y = 1;
  for (const nlohmann::json& r : reports) {
    max_x = std::max(max_x, r["output_tokens_per_second"].get<double>());
    for (const Series& s : series)
      max_y = std::max(max_y, 1e3 * r[s.metric][s.percentile].get<double>());
  }
  constexpr double kWidth = 720, kHeight = 420, kLeft = 70, kRight = 150, kTop = 30, kBottom = 50;
  const double plot_w = kWidth - kLeft - kRight, plot_h = kHeight - kTop - kBottom;
  auto x = [&](double v) { return kLeft + v / max_x * plot_w; };
  auto y = [&](double v) { return kTop + plot_h - v / max_y * plot_h; };
  std::ofstream out(path);
  out << absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" "
      "fill=\"white\"/>\n<text x=\"%.0f\" y=\"18\" font-size=\"14\">Latency vs throughput "
      "(one point per request rate)</text>\n",
      kWidth, kHeight, kLeft);
  out << absl::StrFormat(
      "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"black\"/>\n"
      "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"black\"/>\n",
      kLeft, kTop + plot_h, kLeft + plot_w, kTop + plot_h, kLeft, kTop, kLeft, kTop + plot_h);
  for (int i = 0; i <= 4; ++i) {
    out << absl::StrFormat(
        "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">%.0f</text>\n"
        "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\">%.1f</text>\n",
        x(max_x * i / 4), kTop + plot_h + 18, max_x * i / 4, kLeft - 6, y(max_y * i / 4) + 4,
        max_y * i / 4);
  }
  out << absl::StrFormat(
      "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">output tokens/s</text>\n"
      "<text x=\"16\" y=\"%.0f\" transform=\"rotate(-90 16 %.0f)\" "
      "text-anchor=\"middle\">ms</text>\n",
      kLeft + plot_w / 2, kHeight - 12, kTop + plot_h / 2, kTop + plot_h / 2);
  int row = 0;
  for (const Series& s : series) {
    std::string points;
    for (const nlohmann::json& r : reports) {
      const double px = x(r["output_tokens_per_second"].get<double>());
      const double py = y(1e3 * r[s.metric][s.percentile].get<double>());
      points += absl::StrFormat("%.1f,%.1f ", px, py);
      out << absl::StrFormat("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", px, py,
                             s.color);
    }
    out << absl::StrFormat(
        "<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"/>\n"
        "<text x=\"%.0f\" y=\"%.0f\" fill=\"%s\">%s %s</text>\n",
        points, s.color, kLeft + plot_w + 12, kTop + 16 + 18 * row++, s.color, s.metric,
        s.percentile);
  }
  out << "</svg>\n";
  return static_cast<bool>(out);
}

}  // namespace ssm::bench
