#include "server/prometheus_metrics.h"

namespace ssm::server {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using prometheus::Histogram;

Histogram& AddHistogram(prometheus::Registry& registry, const std::string& name,
                        const std::string& help, Histogram::BucketBoundaries buckets) {
  return BuildHistogram().Name(name).Help(help).Register(registry).Add({}, std::move(buckets));
}

prometheus::Gauge& AddGauge(prometheus::Registry& registry, const std::string& name,
                            const std::string& help) {
  return BuildGauge().Name(name).Help(help).Register(registry).Add({});
}

prometheus::Counter& AddCounter(prometheus::Registry& registry, const std::string& name,
                                const std::string& help) {
  return BuildCounter().Name(name).Help(help).Register(registry).Add({});
}

const Histogram::BucketBoundaries kLatencyBuckets = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};

}  // namespace

PrometheusMetrics::PrometheusMetrics(const std::string& bind_address, int slots,
                                     int64_t bytes_per_slot)
    : exposer_(bind_address),
      bytes_per_slot_(bytes_per_slot),
      time_to_first_token_(AddHistogram(*registry_, "ssm_time_to_first_token_seconds",
                                        "Request received to first token sampled",
                                        kLatencyBuckets)),
      inter_token_latency_(AddHistogram(*registry_, "ssm_inter_token_latency_seconds",
                                        "Gap between consecutive tokens of a request",
                                        kLatencyBuckets)),
      e2e_latency_(AddHistogram(*registry_, "ssm_e2e_request_latency_seconds",
                                "Request received to request done", kLatencyBuckets)),
      queue_time_(AddHistogram(*registry_, "ssm_request_queue_time_seconds",
                               "Time waiting for a state slot", kLatencyBuckets)),
      step_duration_(AddHistogram(*registry_, "ssm_step_duration_seconds",
                                  "Backend time of one engine step", kLatencyBuckets)),
      step_host_time_(AddHistogram(*registry_, "ssm_step_host_seconds",
                                   "Engine-thread work between two backend calls (sampling, "
                                   "streaming, scheduling), not overlapped with the device",
                                   kLatencyBuckets)),
      step_batch_size_(AddHistogram(*registry_, "ssm_step_batch_size",
                                    "Sequences in one engine step",
                                    {1, 2, 4, 8, 16, 32, 64, 128, 256, 512})),
      prompt_tokens_(AddCounter(*registry_, "ssm_prompt_tokens_total", "Prompt tokens processed")),
      generation_tokens_(AddCounter(*registry_, "ssm_generation_tokens_total", "Tokens generated")),
      finished_(BuildCounter()
                    .Name("ssm_requests_finished_total")
                    .Help("Requests that completed, by finish reason")
                    .Register(*registry_)),
      errors_(BuildCounter()
                  .Name("ssm_request_errors_total")
                  .Help("Requests that ended with an error status, by gRPC code")
                  .Register(*registry_)),
      running_(AddGauge(*registry_, "ssm_num_requests_running", "Requests in the engine loop")),
      waiting_(AddGauge(*registry_, "ssm_num_requests_waiting", "Requests waiting for a slot")),
      // By tier: "device" (a slot in the state pool) or "host" (moved out while idle).
      sessions_family_(BuildGauge()
                           .Name("ssm_sessions")
                           .Help("Live sessions, by the tier their state is on")
                           .Register(*registry_)),
      device_sessions_(sessions_family_.Add({{"tier", "device"}})),
      host_sessions_(sessions_family_.Add({{"tier", "host"}})),
      slots_used_(AddGauge(*registry_, "ssm_state_pool_slots_used", "State slots in use")),
      state_bytes_(AddGauge(*registry_, "ssm_state_bytes", "Bytes of recurrent state in use")) {
  AddGauge(*registry_, "ssm_state_pool_slots", "State slots in the pool").Set(slots);
  BuildGauge()
      .Name("ssm_build_info")
      .Help("Build information")
      .Register(*registry_)
      .Add({{"version", "0.1.0"}})
      .Set(1);
  exposer_.RegisterCollectable(registry_);
}

int PrometheusMetrics::port() const { return exposer_.GetListeningPorts().front(); }

void PrometheusMetrics::OnStep(const StepStats& step) {
  step_duration_.Observe(step.seconds);
  if (step.host_seconds > 0) step_host_time_.Observe(step.host_seconds);
  step_batch_size_.Observe(step.sequences);
  running_.Set(step.running);
  waiting_.Set(step.waiting);
  device_sessions_.Set(step.sessions - step.sessions_on_host);
  host_sessions_.Set(step.sessions_on_host);
  slots_used_.Set(step.slots_used);
  state_bytes_.Set(static_cast<double>(step.slots_used) * bytes_per_slot_);
}

void PrometheusMetrics::OnRequestDone(const RequestStats& r) {
  prompt_tokens_.Increment(r.prompt_tokens);
  generation_tokens_.Increment(r.generated_tokens);
  queue_time_.Observe(r.queue_seconds);
  e2e_latency_.Observe(r.e2e_seconds);
  if (r.time_to_first_token_seconds >= 0)
    time_to_first_token_.Observe(r.time_to_first_token_seconds);
  for (double gap : r.inter_token_seconds) inter_token_latency_.Observe(gap);
  if (r.outcome == "length" || r.outcome == "stop") {
    std::lock_guard<std::mutex> lock(errors_mutex_);
    finished_.Add({{"finish_reason", r.outcome}}).Increment();
  } else {
    ErrorCounter(r.outcome).Increment();
  }
}

void PrometheusMetrics::OnRequestRefused(const std::string& code) {
  ErrorCounter(code).Increment();
}

prometheus::Counter& PrometheusMetrics::ErrorCounter(const std::string& code) {
  std::lock_guard<std::mutex> lock(errors_mutex_);
  return errors_.Add({{"code", code}});
}

}  // namespace ssm::server
