#ifndef SSM_SERVER_APPEND_REACTOR_H_
#define SSM_SERVER_APPEND_REACTOR_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "engine/scheduler.h"
#include "engine/tokenizer/tokenizer.h"
#include "server/detachable_sink.h"
#include "ssm/v1/inference.grpc.pb.h"

namespace ssm::server {

// One AppendToSession stream: reads a piece, has the engine feed it into the session (a
// prefill-only request), and reads the next piece only once it is in, so a fast sender is held
// back by the engine rather than buffered. Ends with the session's description.
class AppendReactor : public grpc::ServerReadReactor<v1::AppendRequest> {
 public:
  // With a non-OK `refused` (e.g. an unauthorized call) the stream ends at once with it.
  AppendReactor(Scheduler& scheduler, const Tokenizer* tokenizer, v1::Session* response,
                absl::Status refused);

  void OnReadDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  // The engine's word on the piece in flight (through sink_): in, or failed.
  friend class DetachableSink<AppendReactor>;
  void OnEngineTokens(std::span<const int32_t>, std::string_view, std::span<const TokenLogprobs>) {}
  void OnEngineFinished(const GenerationSummary&) { PieceDone(absl::OkStatus()); }
  void OnEngineFailed(const absl::Status& status) { PieceDone(status); }

  // Submits one piece; false once the stream has been finished (with the reason).
  bool FeedPiece();
  void PieceDone(const absl::Status& status);
  // Ends the stream once. Requires mutex_.
  void FinishOnce(const absl::Status& status);

  Scheduler& scheduler_;
  const Tokenizer* tokenizer_;
  v1::Session* response_;
  std::shared_ptr<DetachableSink<AppendReactor>> sink_;

  std::mutex mutex_;
  v1::AppendRequest piece_;
  std::string session_id_;
  uint64_t request_id_ = 0;
  bool in_flight_ = false;
  bool finished_ = false;
};

}  // namespace ssm::server

#endif  // SSM_SERVER_APPEND_REACTOR_H_
