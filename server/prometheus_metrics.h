#ifndef SSM_SERVER_PROMETHEUS_METRICS_H_
#define SSM_SERVER_PROMETHEUS_METRICS_H_

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <mutex>
#include <string>

#include "engine/engine_observer.h"

namespace ssm::server {

// The engine's measurements as Prometheus metrics (prefix ssm_, base units, _total counters, no
// per-request labels), served over HTTP at /metrics on their own port.
class PrometheusMetrics : public EngineObserver {
 public:
  // Listens on bind_address ("0.0.0.0:9090"; port 0 picks one). slots and bytes_per_slot size
  // the state-pool gauges.
  PrometheusMetrics(const std::string& bind_address, int slots, int64_t bytes_per_slot);

  int port() const;

  void OnStep(const StepStats& step) override;
  void OnRequestDone(const RequestStats& request) override;
  void OnRequestRefused(const std::string& code) override;

 private:
  prometheus::Counter& ErrorCounter(const std::string& code);

  std::shared_ptr<prometheus::Registry> registry_ = std::make_shared<prometheus::Registry>();
  prometheus::Exposer exposer_;
  int64_t bytes_per_slot_;

  prometheus::Histogram& time_to_first_token_;
  prometheus::Histogram& inter_token_latency_;
  prometheus::Histogram& e2e_latency_;
  prometheus::Histogram& queue_time_;
  prometheus::Histogram& step_duration_;
  prometheus::Histogram& step_host_time_;
  prometheus::Histogram& step_batch_size_;
  prometheus::Counter& prompt_tokens_;
  prometheus::Counter& generation_tokens_;
  prometheus::Family<prometheus::Counter>& finished_;
  prometheus::Family<prometheus::Counter>& errors_;
  prometheus::Gauge& running_;
  prometheus::Gauge& waiting_;
  prometheus::Family<prometheus::Gauge>& sessions_family_;
  prometheus::Gauge& device_sessions_;
  prometheus::Gauge& host_sessions_;
  prometheus::Gauge& slots_used_;
  prometheus::Gauge& state_bytes_;
  std::mutex errors_mutex_;  // Family::Add from the engine and from gRPC threads
};

}  // namespace ssm::server

#endif  // SSM_SERVER_PROMETHEUS_METRICS_H_
