#ifndef SSM_SERVER_GENERATE_REACTOR_H_
#define SSM_SERVER_GENERATE_REACTOR_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <mutex>

#include "engine/scheduler.h"
#include "server/detachable_sink.h"
#include "ssm/v1/inference.grpc.pb.h"

namespace ssm::server {

// One Generate stream. The scheduler reports tokens into it (as a RequestSink); gRPC threads
// write them out. One write is in flight at a time, and tokens that arrive meanwhile are
// coalesced into the next message, so a slow reader costs the engine nothing. A reader so slow
// that max_buffered_tokens pile up loses the request (RESOURCE_EXHAUSTED) rather than holding
// its slot forever.
class GenerateReactor : public grpc::ServerWriteReactor<v1::GenerateResponse> {
 public:
  // Submits the request; on a refusal the stream finishes at once with that status.
  GenerateReactor(Scheduler& scheduler, GenerationRequest request, int max_buffered_tokens);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  // What the engine reports (through sink_), buffered until the stream can take it.
  friend class DetachableSink<GenerateReactor>;
  void OnEngineTokens(std::span<const int32_t> ids, std::string_view text,
                      std::span<const TokenLogprobs> logprobs);
  void OnEngineFinished(const GenerationSummary& summary);
  void OnEngineFailed(const absl::Status& status);

  // Starts the next write or the finish, if due. Requires mutex_.
  void Pump();

  Scheduler& scheduler_;
  const int max_buffered_tokens_;
  std::shared_ptr<DetachableSink<GenerateReactor>> sink_;
  uint64_t request_id_ = 0;

  // Recursive: gRPC may run a reaction inline from StartWrite, which is called under it.
  std::recursive_mutex mutex_;
  v1::GenerateResponse pending_;  // coalesced tokens not yet written
  v1::GenerateResponse writing_;  // the message in flight
  bool write_in_flight_ = false;
  bool final_ready_ = false;  // pending_ holds the last message
  bool finish_called_ = false;
  grpc::Status final_status_;
};

}  // namespace ssm::server

#endif  // SSM_SERVER_GENERATE_REACTOR_H_
