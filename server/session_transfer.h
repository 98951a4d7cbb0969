#ifndef SSM_SERVER_SESSION_TRANSFER_H_
#define SSM_SERVER_SESSION_TRANSFER_H_

#include <grpcpp/grpcpp.h>

#include <string>

#include "absl/status/status.h"
#include "engine/scheduler.h"
#include "ssm/v1/inference.grpc.pb.h"

namespace ssm::server {

// Session states can be far larger than a gRPC message (a Mamba-2 2.7B session is 160 MiB), so
// export and import stream them in pieces of at most piece_bytes.

// ExportSession: encodes the session once, then writes it piece by piece.
class ExportReactor : public grpc::ServerWriteReactor<v1::SessionData> {
 public:
  // With a non-OK `refused` the stream ends at once with it.
  ExportReactor(Scheduler& scheduler, const std::string& id, size_t piece_bytes,
                absl::Status refused);
  void OnWriteDone(bool ok) override;
  void OnDone() override { delete this; }

 private:
  void WriteNext();

  std::string bytes_;
  size_t sent_ = 0;
  size_t piece_bytes_;
  v1::SessionData piece_;
};

// ImportSession: gathers the pieces (the first names the new session's id, if any), up to
// max_bytes, then imports them as one session.
class ImportReactor : public grpc::ServerReadReactor<v1::SessionData> {
 public:
  ImportReactor(Scheduler& scheduler, size_t max_bytes, v1::Session* response,
                absl::Status refused);
  void OnReadDone(bool ok) override;
  void OnDone() override { delete this; }

 private:
  Scheduler& scheduler_;
  size_t max_bytes_;
  v1::Session* response_;
  v1::SessionData piece_;
  std::string bytes_;
  std::string id_;
};

}  // namespace ssm::server

#endif  // SSM_SERVER_SESSION_TRANSFER_H_
