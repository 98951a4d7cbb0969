#ifndef SSM_CLIENT_BENCH_TIMED_STREAM_H_
#define SSM_CLIENT_BENCH_TIMED_STREAM_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "ssm/v1/inference.grpc.pb.h"

namespace ssm::bench {

// What one Generate call did, as the client saw it.
struct RequestRecord {
  grpc::StatusCode code = grpc::StatusCode::OK;
  std::string error;
  int turn = 0;  // 1-based turn of a multi-turn user; 0 for single requests
  int prompt_tokens = 0;
  int output_tokens = 0;
  double ttft = 0;          // request sent to first token received, seconds
  double e2e = 0;           // request sent to the stream's end
  std::vector<double> itl;  // gaps between consecutive messages that carried tokens
};

// One streaming Generate on gRPC's callback API: timestamps every message as it arrives and
// hands the record to `done` (on a gRPC thread) when the stream ends. Owns itself; deletes
// itself just before calling `done`.
class TimedStream : public grpc::ClientReadReactor<v1::GenerateResponse> {
 public:
  using Done = std::function<void(RequestRecord)>;
  // Starts the call. session_id (may be empty) also goes into x-session-id for gateways.
  static void Start(v1::Inference::Stub& stub, v1::GenerateRequest request,
                    const std::string& bearer_token, int turn, Done done);

 private:
  using Clock = std::chrono::steady_clock;
  TimedStream(v1::GenerateRequest request, int turn, Done done);
  void OnReadDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

  grpc::ClientContext context_;
  v1::GenerateRequest request_;
  v1::GenerateResponse response_;
  RequestRecord record_;
  Clock::time_point sent_, last_;
  Done done_;
};

}  // namespace ssm::bench

#endif  // SSM_CLIENT_BENCH_TIMED_STREAM_H_
