#include "client/bench/latency_stats.h"

#include <algorithm>
#include <numeric>

namespace ssm::bench {

double Percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const double rank = q / 100 * (sorted.size() - 1);
  const size_t below = static_cast<size_t>(rank);
  const size_t above = std::min(below + 1, sorted.size() - 1);
  return sorted[below] + (rank - below) * (sorted[above] - sorted[below]);
}

Summary Summarize(std::vector<double> values) {
  if (values.empty()) return {};
  std::sort(values.begin(), values.end());
  return {.count = static_cast<int>(values.size()),
          .mean = std::accumulate(values.begin(), values.end(), 0.0) / values.size(),
          .p50 = Percentile(values, 50),
          .p90 = Percentile(values, 90),
          .p99 = Percentile(values, 99),
          .max = values.back()};
}

}  // namespace ssm::bench
