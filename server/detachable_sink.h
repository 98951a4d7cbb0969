#ifndef SSM_SERVER_DETACHABLE_SINK_H_
#define SSM_SERVER_DETACHABLE_SINK_H_

#include <mutex>

#include "engine/scheduler.h"

namespace ssm::server {

// The RequestSink of a gRPC reactor. The scheduler holds sinks by shared_ptr and may report
// after gRPC has destroyed the reactor (a request cancelled in the middle of a step), so the
// reactor detaches in OnDone and later reports go nowhere. Owner takes the reports as
// OnEngineTokens, OnEngineFinished and OnEngineFailed (this class may be its friend).
template <typename Owner>
class DetachableSink final : public RequestSink {
 public:
  explicit DetachableSink(Owner* owner) : owner_(owner) {}

  void Detach() {
    std::lock_guard<std::mutex> lock(mutex_);
    owner_ = nullptr;
  }

  void OnTokens(std::span<const int32_t> ids, std::string_view text,
                std::span<const TokenLogprobs> logprobs) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (owner_ != nullptr) owner_->OnEngineTokens(ids, text, logprobs);
  }
  void OnFinished(const GenerationSummary& summary) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (owner_ != nullptr) owner_->OnEngineFinished(summary);
  }
  void OnFailed(const absl::Status& status) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (owner_ != nullptr) owner_->OnEngineFailed(status);
  }

 private:
  std::mutex mutex_;
  Owner* owner_;
};

}  // namespace ssm::server

#endif  // SSM_SERVER_DETACHABLE_SINK_H_
