#ifndef SSM_ENGINE_SCHEDULER_H_
#define SSM_ENGINE_SCHEDULER_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/backend.h"
#include "engine/delivery_thread.h"
#include "engine/engine_observer.h"
#include "engine/logprobs.h"
#include "engine/sampler.h"
#include "engine/session_table.h"
#include "engine/tokenizer/tokenizer.h"

namespace ssm {

struct GenerationRequest {
  // Empty: the request runs on a fresh state that is dropped afterwards. Otherwise it continues
  // that session's state, which keeps everything fed so far.
  std::string session_id;
  std::vector<int32_t> prompt;
  SamplingParams sampling;
  int32_t max_tokens = 0;  // 0: the scheduler's default
  std::vector<int32_t> stop_token_ids;
  // Generation stops when the text contains one of these (also across tokens); the stop string
  // itself is not returned. Needs a tokenizer.
  std::vector<std::string> stop_strings;
  // Before this many tokens, end-of-text and stop ids cannot be sampled and stop strings are
  // not looked for.
  int32_t min_tokens = 0;
  bool ignore_eos = false;
  // Report each generated token's log-probability (engine/logprobs.h), with the top_logprobs
  // most likely tokens of its step (0..kMaxTopLogprobs).
  bool logprobs = false;
  int32_t top_logprobs = 0;
  // Only feed the prompt into the session and generate nothing (AppendToSession): the sink
  // gets OnFinished once it is all in the state.
  bool prefill_only = false;
};

enum class FinishReason { kLength, kStop };

struct GenerationSummary {
  FinishReason reason = FinishReason::kLength;
  int32_t prompt_tokens = 0;
  int32_t generated_tokens = 0;
  int64_t session_tokens = 0;  // the session's context length afterwards (sessions only)
  double queue_seconds = 0;
  double time_to_first_token_seconds = 0;
  double total_seconds = 0;
};

// Where a request's results go. Called on the scheduler's delivery thread (not the engine's, so
// a sink's I/O overlaps the next step), in order: any number of OnTokens, then exactly one of
// OnFinished or OnFailed. Implementations must not block for long: they delay every stream.
class RequestSink {
 public:
  virtual ~RequestSink() = default;
  // New tokens and the text that became complete with them (never a split UTF-8 character;
  // empty when the model has no tokenizer); logprobs has one entry per id if the request asked
  // for them, else none.
  virtual void OnTokens(std::span<const int32_t> ids, std::string_view text,
                        std::span<const TokenLogprobs> logprobs) = 0;
  virtual void OnFinished(const GenerationSummary& summary) = 0;
  virtual void OnFailed(const absl::Status& status) = 0;
};

struct SchedulerOptions {
  int32_t max_queue = 256;     // waiting requests beyond this are refused
  int64_t token_budget = 512;  // tokens per step: all decodes, then prefill chunks
  int32_t default_max_tokens = 256;
  int32_t max_tokens_limit = 1 << 20;
  // Longer prompts are refused; an append streams a longer document in pieces.
  int64_t max_prompt_tokens = 1 << 20;
  uint64_t model_fingerprint = 0;  // stamped on exported sessions (Model::Fingerprint)
  // Idle sessions are deleted after this long without a request (0: never).
  std::chrono::seconds session_ttl{0};
  // The host tier: when the state pool is full, the least recently used idle session's state
  // moves to host memory to free its slot, and comes back when the session is used. At most
  // this many sessions wait there (0: no host tier; a full pool refuses new sessions).
  int32_t host_sessions = 0;
};

// The engine loop. One thread builds each step from every running decode plus prefill chunks
// under a token budget (continuous batching with chunked prefill, so a long prompt does not
// stall running streams), runs the backend once, samples (in parallel across sequences), and
// hands each request's results to its sink through a delivery thread.
// Requests wait in a bounded queue for a free state slot. Thread-safe.
class Scheduler {
 public:
  // observer (may be null) receives step and request measurements on the engine thread.
  Scheduler(Backend& backend, const Tokenizer* tokenizer, std::vector<int32_t> eos_ids,
            SchedulerOptions options, EngineObserver* observer = nullptr);
  ~Scheduler();  // fails whatever is still queued or running, then stops the thread

  // Queues a request. InvalidArgument for bad parameters, ResourceExhausted when the queue is
  // full. The returned id can cancel it.
  absl::StatusOr<uint64_t> Submit(GenerationRequest request, std::shared_ptr<RequestSink> sink);
  // Stops a request within one step; its sink gets OnFailed(Cancelled). Unknown ids are ignored.
  void Cancel(uint64_t id);

  // Sessions: a state kept between requests, so continuing a conversation costs only the new
  // tokens (engine/session_table.h). ResourceExhausted when no slot can be had.
  // `id` is the client's choice (proto/ssm/v1/inference.proto says which ids are valid;
  // InvalidArgument otherwise, AlreadyExists if taken), or empty for a random one.
  absl::StatusOr<SessionInfo> CreateSession(const std::string& id = "");
  // A new session with a copy of the state (cheap: constant size), named after its parent's
  // route (SessionRoute). FailedPrecondition if busy.
  absl::StatusOr<SessionInfo> ForkSession(const std::string& id);
  absl::StatusOr<SessionInfo> GetSession(const std::string& id);
  std::vector<SessionInfo> ListSessions();
  // FailedPrecondition while a request runs on it.
  absl::Status DeleteSession(const std::string& id);
  // The session as bytes (engine/session_codec.h); FailedPrecondition while busy.
  absl::StatusOr<std::string> ExportSession(const std::string& id);
  // A new session from exported bytes, checked against this model; `id` as for CreateSession.
  absl::StatusOr<SessionInfo> ImportSession(std::string_view bytes, const std::string& id = "");

  int32_t running() const { return running_count_.load(); }
  int32_t waiting() const { return waiting_count_.load(); }

 private:
  struct Active;
  using Clock = std::chrono::steady_clock;

  absl::StatusOr<uint64_t> Enqueue(GenerationRequest request, std::shared_ptr<RequestSink> sink);
  void Loop();
  void ExpireIdleSessions();  // requires mutex_
  void Admit();
  void RunStep();
  bool Early(const Active& a) const;
  // The request's next token from its logits, by its sampling parameters.
  int32_t Pick(Active& a, std::span<const float> logits);
  // The ids the request may not pick now: before min_tokens, its stop ids (and eos unless it
  // ignores eos).
  std::vector<int32_t> Banned(const Active& a) const;
  // Records and streams a picked token (with its logprobs, if asked for), and finishes the
  // request if it ends here.
  void Emit(Active& a, int32_t token, std::span<const TokenLogprobs> logprobs);
  // Ends a request that completed: releases it, tells its sink and the observer.
  void Finish(Active& a, FinishReason reason);
  // Removes a running request (releasing it first if that has not happened).
  void Retire(size_t index);
  // Gives back what a request held, once: a temporary state's slot returns to the pool; a
  // session keeps its slot, records what this turn fed (all of it, also when cut short, with
  // the last sampled token left for the next turn to feed) and becomes idle.
  void Release(Active& a);
  // Tells the sink and the observer that a request failed (cancelled, error, shutdown).
  void Fail(Active& a, const absl::Status& status);
  void Report(const Active& a, const std::string& outcome);
  void ReportStep(double seconds, double host_seconds, size_t sequences, int64_t tokens);

  Backend& backend_;
  const Tokenizer* tokenizer_;
  std::vector<int32_t> eos_ids_;
  SchedulerOptions options_;
  EngineObserver* observer_;

  std::mutex mutex_;  // guards what follows, up to the engine-thread-only members
  std::condition_variable wake_;
  std::deque<std::unique_ptr<Active>> queue_;
  std::vector<uint64_t> cancelled_;
  bool stopping_ = false;
  uint64_t next_id_ = 1;
  SessionTable sessions_;

  // Engine thread only.
  std::vector<std::unique_ptr<Active>> running_;
  std::vector<float> logits_;
  std::vector<int32_t> next_;     // steps that return ids: each sequence's token
  std::vector<TokenDraw> draws_;  // steps that draw on the backend: each sequence's draw
  std::vector<std::vector<int32_t>> banned_;  // and the ids each draw bans
  // When the last backend call ended, while the engine has work without pause; unset when idle.
  std::optional<Clock::time_point> last_backend_end_;

  std::atomic<int32_t> running_count_{0};
  std::atomic<int32_t> waiting_count_{0};
  // What the sinks hear, in order, off the engine thread. Declared before thread_ so that it
  // outlives the engine thread, which fails what is left when it stops.
  DeliveryThread delivery_;
  std::thread thread_;
};

}  // namespace ssm

#endif  // SSM_ENGINE_SCHEDULER_H_
