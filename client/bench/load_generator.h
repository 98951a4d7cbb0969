#ifndef SSM_CLIENT_BENCH_LOAD_GENERATOR_H_
#define SSM_CLIENT_BENCH_LOAD_GENERATOR_H_

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/bench/options.h"
#include "client/bench/timed_stream.h"
#include "client/bench/workload.h"
#include "ssm/v1/inference.grpc.pb.h"

namespace ssm::bench {

struct RunResult {
  std::vector<RequestRecord> records;  // warm-up requests excluded
  double seconds = 0;                  // from the first request sent to the last one ended
  double client_cpu_seconds = 0;       // this process's CPU time (user + system) meanwhile
};

// Drives a server with streaming Generate calls, all in flight at once, spread in turn over the
// stubs' channels (gRPC's callback API; no thread per request):
//   closed loop: `concurrency` lanes, each sending its next request when the last one ends;
//     with turns > 1 each lane plays users who keep a session for `turns` requests;
//   open loop: requests sent at gamma-distributed intervals whatever is still running.
class LoadGenerator {
 public:
  LoadGenerator(const std::vector<std::unique_ptr<v1::Inference::Stub>>& stubs,
                const Options& options, Workload& workload, std::string bearer_token);

  // One measured run (after the warm-up requests, if any); rate 0 is the closed loop.
  absl::StatusOr<RunResult> Run(double rate);

 private:
  struct User {
    std::string session;
    int turn = 0;
  };

  void Reset(int request_budget);
  // Reserves the next request of the budget; false once the run has issued all it may.
  bool Reserve();
  void Send(const RequestSpec& spec, const std::string& session, int turn, int lane);
  void OnDone(RequestRecord record, int lane);
  void NextOnLane(int lane);
  void WaitForAll();
  absl::StatusOr<std::vector<std::string>> CreateSessions(int count);
  void DeleteSessions(const std::vector<std::string>& sessions);
  void ShowProgress(bool final);

  const std::vector<std::unique_ptr<v1::Inference::Stub>>& stubs_;
  std::atomic<uint64_t> sent_{0};  // streams started: picks each one's channel in turn
  Options options_;
  Workload& workload_;
  std::string bearer_token_;

  std::mutex mutex_;
  std::condition_variable all_done_;
  bool warmup_ = false;
  int budget_ = 0;  // requests this run may send (negative: until the deadline)
  int issued_ = 0, finished_ = 0;
  std::chrono::steady_clock::time_point started_, deadline_;
  std::vector<RequestRecord> records_;
  std::vector<std::string> sessions_;  // multi-turn: one per user
  int next_user_ = 0;
  std::vector<User> lane_user_;
  std::atomic<int64_t> output_tokens_{0};
  std::atomic<int> failed_{0};
};

}  // namespace ssm::bench

#endif  // SSM_CLIENT_BENCH_LOAD_GENERATOR_H_
