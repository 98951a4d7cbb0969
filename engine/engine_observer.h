#ifndef SSM_ENGINE_ENGINE_OBSERVER_H_
#define SSM_ENGINE_ENGINE_OBSERVER_H_

#include <cstdint>
#include <string>
#include <vector>

namespace ssm {

// What one engine step did.
struct StepStats {
  double seconds = 0;  // the backend call
  // The engine thread's own work since the previous backend call ended (sampling, streaming
  // tokens, scheduling): GPU idle time that overlapping host and device work would hide. 0 for
  // the first step after the engine was idle.
  double host_seconds = 0;
  int32_t sequences = 0;  // batch size
  int64_t tokens = 0;     // tokens fed
  int32_t running = 0;
  int32_t waiting = 0;
  int32_t sessions = 0;  // all of them; sessions_on_host of them on the host tier
  int32_t sessions_on_host = 0;
  int32_t slots_used = 0;
};

// How one request went, reported once when it ends (finished, failed or cancelled).
struct RequestStats {
  std::string outcome;  // "length", "stop", or the lower-case status code ("cancelled", ...)
  int32_t prompt_tokens = 0;
  int32_t generated_tokens = 0;
  double queue_seconds = 0;
  double time_to_first_token_seconds = -1;  // -1: no token came
  double e2e_seconds = 0;
  std::vector<double> inter_token_seconds;  // gaps between consecutive tokens
};

// Receives the engine's measurements, on the engine thread, once per step and once per request,
// so an implementation can record them in batches (the server exports them to Prometheus).
class EngineObserver {
 public:
  virtual ~EngineObserver() = default;
  virtual void OnStep(const StepStats& step) = 0;
  virtual void OnRequestDone(const RequestStats& request) = 0;
  // A request refused at submission, by its lower-case status code ("resource_exhausted").
  // Called on the submitting thread.
  virtual void OnRequestRefused(const std::string& code) = 0;
};

}  // namespace ssm

#endif  // SSM_ENGINE_ENGINE_OBSERVER_H_
