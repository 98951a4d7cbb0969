#include "server/generate_reactor.h"

#include <spdlog/spdlog.h>

#include "server/status.h"

namespace ssm::server {

class GenerateReactor::Sink : public RequestSink {
 public:
  explicit Sink(GenerateReactor* reactor) : reactor_(reactor) {}

  void OnTokens(std::span<const int32_t> ids, std::string_view text,
                std::span<const TokenLogprobs> logprobs) override {
    std::lock_guard<std::mutex> detach(mutex_);
    if (reactor_ == nullptr) return;
    std::lock_guard<std::recursive_mutex> lock(reactor_->mutex_);
    if (reactor_->final_ready_) return;
    for (int32_t id : ids) reactor_->pending_.add_token_ids(id);
    for (const TokenLogprobs& token : logprobs) {
      v1::TokenLogprobs* out = reactor_->pending_.add_logprobs();
      out->set_logprob(token.logprob);
      for (const TopLogprob& top : token.top) {
        v1::TopLogprob* alternative = out->add_top();
        alternative->set_token_id(top.token);
        alternative->set_logprob(top.logprob);
      }
    }
    reactor_->pending_.mutable_text()->append(text);
    if (reactor_->pending_.token_ids_size() > reactor_->max_buffered_tokens_) {
      reactor_->scheduler_.Cancel(reactor_->request_id_);
      reactor_->pending_.Clear();
      reactor_->final_ready_ = true;
      reactor_->final_status_ = grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                             "the client reads the stream too slowly: more than " +
                                                 std::to_string(reactor_->max_buffered_tokens_) +
                                                 " tokens waiting to be sent");
    }
    reactor_->Pump();
  }

  void OnFinished(const GenerationSummary& s) override {
    std::lock_guard<std::mutex> detach(mutex_);
    if (reactor_ == nullptr) return;
    spdlog::info(
        "request {}: {} after {} prompt + {} generated tokens, ttft {:.3f}s, total {:.3f}s",
        reactor_->request_id_, s.reason == FinishReason::kStop ? "stop" : "length", s.prompt_tokens,
        s.generated_tokens, s.time_to_first_token_seconds, s.total_seconds);
    std::lock_guard<std::recursive_mutex> lock(reactor_->mutex_);
    if (reactor_->final_ready_) return;
    v1::GenerateResponse& last = reactor_->pending_;
    last.set_finish_reason(s.reason == FinishReason::kStop ? v1::FINISH_REASON_STOP
                                                           : v1::FINISH_REASON_LENGTH);
    last.mutable_usage()->set_prompt_tokens(s.prompt_tokens);
    last.mutable_usage()->set_generated_tokens(s.generated_tokens);
    last.mutable_usage()->set_session_tokens(s.session_tokens);
    last.mutable_timings()->set_queue_seconds(s.queue_seconds);
    last.mutable_timings()->set_time_to_first_token_seconds(s.time_to_first_token_seconds);
    last.mutable_timings()->set_total_seconds(s.total_seconds);
    reactor_->final_ready_ = true;
    reactor_->final_status_ = grpc::Status::OK;
    reactor_->Pump();
  }

  void OnFailed(const absl::Status& status) override {
    std::lock_guard<std::mutex> detach(mutex_);
    if (reactor_ == nullptr) return;
    spdlog::info("request {}: {}", reactor_->request_id_, status.ToString());
    std::lock_guard<std::recursive_mutex> lock(reactor_->mutex_);
    if (reactor_->final_ready_) return;
    reactor_->pending_.Clear();  // a failed stream ends with its status, not with more tokens
    reactor_->final_ready_ = true;
    reactor_->final_status_ = ToGrpc(status);
    reactor_->Pump();
  }

  // Called from OnDone: after this the engine's reports go nowhere.
  void Detach() {
    std::lock_guard<std::mutex> lock(mutex_);
    reactor_ = nullptr;
  }

 private:
  std::mutex mutex_;
  GenerateReactor* reactor_;
};

GenerateReactor::GenerateReactor(Scheduler& scheduler, GenerationRequest request,
                                 int max_buffered_tokens)
    : scheduler_(scheduler),
      max_buffered_tokens_(max_buffered_tokens),
      sink_(std::make_shared<Sink>(this)) {
  absl::StatusOr<uint64_t> id = scheduler_.Submit(std::move(request), sink_);
  if (!id.ok()) {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    final_ready_ = true;
    final_status_ = ToGrpc(id.status());
    Pump();
    return;
  }
  request_id_ = *id;
  spdlog::debug("request {}: queued", request_id_);
}

void GenerateReactor::Pump() {
  if (write_in_flight_ || finish_called_) return;
  const bool has_tokens = pending_.token_ids_size() > 0 || !pending_.text().empty();
  if (final_ready_ && !final_status_.ok()) {
    finish_called_ = true;
    Finish(final_status_);
  } else if (has_tokens || final_ready_) {
    writing_.Swap(&pending_);
    pending_.Clear();
    write_in_flight_ = true;
    if (final_ready_) {
      finish_called_ = true;
      StartWriteAndFinish(&writing_, grpc::WriteOptions(), grpc::Status::OK);
    } else {
      StartWrite(&writing_);
    }
  }
}

void GenerateReactor::OnWriteDone(bool ok) {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  write_in_flight_ = false;
  if (!ok) {  // the client went away; OnCancel cancels the request
    if (!finish_called_) {
      finish_called_ = true;
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the stream was closed"));
    }
    return;
  }
  Pump();
}

void GenerateReactor::OnCancel() {
  if (request_id_ != 0) scheduler_.Cancel(request_id_);
}

void GenerateReactor::OnDone() {
  sink_->Detach();
  delete this;
}

}  // namespace ssm::server
