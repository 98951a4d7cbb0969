#include "server/append_reactor.h"

#include "absl/strings/str_cat.h"
#include "server/session_proto.h"
#include "server/status.h"

namespace ssm::server {

AppendReactor::AppendReactor(Scheduler& scheduler, const Tokenizer* tokenizer,
                             v1::Session* response, absl::Status refused)
    : scheduler_(scheduler),
      tokenizer_(tokenizer),
      response_(response),
      sink_(std::make_shared<DetachableSink<AppendReactor>>(this)) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!refused.ok()) {
    FinishOnce(refused);
    return;
  }
  StartRead(&piece_);
}

void AppendReactor::OnReadDone(bool ok) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (finished_) return;
  if (!ok) {  // the client has sent everything, and all of it is in
    if (session_id_.empty()) {
      FinishOnce(absl::InvalidArgumentError("the stream carried no session_id"));
      return;
    }
    absl::StatusOr<SessionInfo> session = scheduler_.GetSession(session_id_);
    if (session.ok()) ToProto(*session, response_);
    FinishOnce(session.status());
    return;
  }
  if (FeedPiece() && !in_flight_) StartRead(&piece_);  // an empty piece: read on
}

bool AppendReactor::FeedPiece() {
  if (session_id_.empty()) session_id_ = piece_.session_id();
  if (session_id_.empty()) {
    FinishOnce(absl::InvalidArgumentError("the first message must name the session_id"));
    return false;
  }
  if (!piece_.session_id().empty() && piece_.session_id() != session_id_) {
    FinishOnce(absl::InvalidArgumentError(absl::StrCat(
        "a stream appends to one session: ", session_id_, ", not ", piece_.session_id())));
    return false;
  }
  GenerationRequest request;
  request.session_id = session_id_;
  request.prefill_only = true;
  if (piece_.has_ids()) {
    request.prompt.assign(piece_.ids().ids().begin(), piece_.ids().ids().end());
  } else if (!piece_.text().empty()) {
    if (tokenizer_ == nullptr) {
      FinishOnce(absl::FailedPreconditionError(
          "text needs a tokenizer, and the model has none; send ids instead"));
      return false;
    }
    absl::StatusOr<std::vector<int32_t>> ids = tokenizer_->Encode(piece_.text());
    if (!ids.ok()) {
      FinishOnce(ids.status());
      return false;
    }
    request.prompt = *std::move(ids);
  }
  if (request.prompt.empty()) return true;
  absl::StatusOr<uint64_t> id = scheduler_.Submit(std::move(request), sink_);
  if (!id.ok()) {
    FinishOnce(id.status());
    return false;
  }
  request_id_ = *id;
  in_flight_ = true;
  return true;
}

void AppendReactor::PieceDone(const absl::Status& status) {
  std::lock_guard<std::mutex> lock(mutex_);
  in_flight_ = false;
  if (finished_) return;
  if (!status.ok()) {
    FinishOnce(status);
    return;
  }
  StartRead(&piece_);
}

void AppendReactor::OnCancel() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (in_flight_) scheduler_.Cancel(request_id_);
  FinishOnce(absl::CancelledError("the client cancelled the append"));
}

void AppendReactor::OnDone() {
  sink_->Detach();
  delete this;
}

void AppendReactor::FinishOnce(const absl::Status& status) {
  if (finished_) return;
  finished_ = true;
  Finish(ToGrpc(status));
}

}  // namespace ssm::server
