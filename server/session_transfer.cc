#include "server/session_transfer.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "server/session_proto.h"
#include "server/status.h"

namespace ssm::server {

ExportReactor::ExportReactor(Scheduler& scheduler, const std::string& id, size_t piece_bytes,
                             absl::Status refused)
    : piece_bytes_(piece_bytes) {
  if (!refused.ok()) {
    Finish(ToGrpc(refused));
    return;
  }
  absl::StatusOr<std::string> bytes = scheduler.ExportSession(id);
  if (!bytes.ok()) {
    Finish(ToGrpc(bytes.status()));
    return;
  }
  bytes_ = *std::move(bytes);
  WriteNext();
}

void ExportReactor::WriteNext() {
  if (sent_ == bytes_.size()) {
    Finish(grpc::Status::OK);
    return;
  }
  const size_t n = std::min(piece_bytes_, bytes_.size() - sent_);
  piece_.set_data(bytes_.substr(sent_, n));
  sent_ += n;
  StartWrite(&piece_);
}

void ExportReactor::OnWriteDone(bool ok) {
  if (!ok) {
    Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the client stopped reading"));
    return;
  }
  WriteNext();
}

ImportReactor::ImportReactor(Scheduler& scheduler, size_t max_bytes, v1::Session* response,
                             absl::Status refused)
    : scheduler_(scheduler), max_bytes_(max_bytes), response_(response) {
  if (!refused.ok()) {
    Finish(ToGrpc(refused));
    return;
  }
  StartRead(&piece_);
}

void ImportReactor::OnReadDone(bool ok) {
  if (ok) {
    if (id_.empty()) id_ = piece_.id();
    if (bytes_.size() + piece_.data().size() > max_bytes_) {
      Finish(ToGrpc(absl::InvalidArgumentError(absl::StrCat(
          "the session data exceeds ", max_bytes_, " bytes, more than a state of this model"))));
      return;
    }
    bytes_ += piece_.data();
    StartRead(&piece_);
    return;
  }
  absl::StatusOr<SessionInfo> session = scheduler_.ImportSession(bytes_, id_);
  if (session.ok()) ToProto(*session, response_);
  Finish(ToGrpc(session.status()));
}

}  // namespace ssm::server
