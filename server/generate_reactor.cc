#include "server/generate_reactor.h"

#include <spdlog/spdlog.h>

#include "server/status.h"

namespace ssm::server {

GenerateReactor::GenerateReactor(Scheduler& scheduler, GenerationRequest request,
                                 int max_buffered_tokens)
    : scheduler_(scheduler),
      max_buffered_tokens_(max_buffered_tokens),
      sink_(std::make_shared<DetachableSink<GenerateReactor>>(this)) {
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

void GenerateReactor::OnEngineTokens(std::span<const int32_t> ids, std::string_view text,
                                     std::span<const TokenLogprobs> logprobs) {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  if (final_ready_) return;
  for (int32_t id : ids) pending_.add_token_ids(id);
  for (const TokenLogprobs& token : logprobs) {
    v1::TokenLogprobs* out = pending_.add_logprobs();
    out->set_logprob(token.logprob);
    for (const TopLogprob& top : token.top) {
      v1::TopLogprob* alternative = out->add_top();
      alternative->set_token_id(top.token);
      alternative->set_logprob(top.logprob);
    }
  }
  pending_.mutable_text()->append(text);
  if (pending_.token_ids_size() > max_buffered_tokens_) {
    scheduler_.Cancel(request_id_);
    pending_.Clear();
    final_ready_ = true;
    final_status_ =
        grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                     "the client reads the stream too slowly: more than " +
                         std::to_string(max_buffered_tokens_) + " tokens waiting to be sent");
  }
  Pump();
}

void GenerateReactor::OnEngineFinished(const GenerationSummary& summary) {
  spdlog::info("request {}: {} after {} prompt + {} generated tokens, ttft {:.3f}s, total {:.3f}s",
               request_id_, summary.reason == FinishReason::kStop ? "stop" : "length",
               summary.prompt_tokens, summary.generated_tokens, summary.time_to_first_token_seconds,
               summary.total_seconds);
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  if (final_ready_) return;
  v1::GenerateResponse& last = pending_;
  last.set_finish_reason(summary.reason == FinishReason::kStop ? v1::FINISH_REASON_STOP
                                                               : v1::FINISH_REASON_LENGTH);
  last.mutable_usage()->set_prompt_tokens(summary.prompt_tokens);
  last.mutable_usage()->set_generated_tokens(summary.generated_tokens);
  last.mutable_usage()->set_session_tokens(summary.session_tokens);
  last.mutable_timings()->set_queue_seconds(summary.queue_seconds);
  last.mutable_timings()->set_time_to_first_token_seconds(summary.time_to_first_token_seconds);
  last.mutable_timings()->set_total_seconds(summary.total_seconds);
  final_ready_ = true;
  final_status_ = grpc::Status::OK;
  Pump();
}

void GenerateReactor::OnEngineFailed(const absl::Status& status) {
  spdlog::info("request {}: {}", request_id_, status.ToString());
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  if (final_ready_) return;
  pending_.Clear();  // a failed stream ends with its status, not with more tokens
  final_ready_ = true;
  final_status_ = ToGrpc(status);
  Pump();
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
