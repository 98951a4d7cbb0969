#ifndef SSM_CLIENT_CALL_METADATA_H_
#define SSM_CLIENT_CALL_METADATA_H_

#include <grpcpp/grpcpp.h>

#include <cstdlib>
#include <string>

#include "client/session_id.h"

namespace ssm::client {

// The bearer token from SSM_TOKEN, or empty (from the environment rather than a flag, so it does
// not show in the process list).
inline std::string BearerToken() {
  const char* token = std::getenv("SSM_TOKEN");
  return token != nullptr ? token : "";
}

// Adds to a call the bearer token, if any, and for a call about a session its route in
// x-session-id, on which a gateway in front of several replicas picks the one that holds the
// session (proto/ssm/v1/inference.proto, deploy/kubernetes/).
inline void AddCallMetadata(grpc::ClientContext& context, const std::string& bearer_token,
                            const std::string& session_id = "") {
  if (!bearer_token.empty()) context.AddMetadata("authorization", "Bearer " + bearer_token);
  if (!session_id.empty()) context.AddMetadata("x-session-id", SessionRoute(session_id));
}

}  // namespace ssm::client

#endif  // SSM_CLIENT_CALL_METADATA_H_
