#ifndef SSM_CLIENT_BENCH_LATENCY_STATS_H_
#define SSM_CLIENT_BENCH_LATENCY_STATS_H_

#include <vector>

namespace ssm::bench {

// Mean and order statistics of a sample (seconds, or any unit); zeros for an empty one.
// Percentiles interpolate linearly between the closest ranks, as numpy.percentile does.
struct Summary {
  int count = 0;
  double mean = 0, p50 = 0, p90 = 0, p99 = 0, max = 0;
};

Summary Summarize(std::vector<double> values);

// The q-th percentile (0..100) of sorted values.
double Percentile(const std::vector<double>& sorted, double q);

}  // namespace ssm::bench

#endif  // SSM_CLIENT_BENCH_LATENCY_STATS_H_
