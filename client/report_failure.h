#ifndef SSM_CLIENT_REPORT_FAILURE_H_
#define SSM_CLIENT_REPORT_FAILURE_H_

#include <grpcpp/grpcpp.h>

#include <cstdio>

#include "absl/status/status.h"

namespace ssm::client {

// Prints a failed call's message and status code on stderr ("ssm-client WHAT: message (CODE)");
// returns the exit code for it.
inline int ReportFailure(const char* what, const grpc::Status& status) {
  std::fprintf(
      stderr, "ssm-client %s: %s (%s)\n", what, status.error_message().c_str(),
      absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code())).c_str());
  return 1;
}

}  // namespace ssm::client

#endif  // SSM_CLIENT_REPORT_FAILURE_H_
