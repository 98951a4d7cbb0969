#ifndef SSM_SERVER_STATUS_H_
#define SSM_SERVER_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace ssm::server {

// The gRPC status for an engine status: same code, same message.
inline grpc::Status ToGrpc(const absl::Status& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

}  // namespace ssm::server

#endif  // SSM_SERVER_STATUS_H_
