#ifndef SSM_SERVER_SESSION_PROTO_H_
#define SSM_SERVER_SESSION_PROTO_H_

#include "engine/scheduler.h"
#include "ssm/v1/inference.pb.h"

namespace ssm::server {

// The API's description of a session.
inline void ToProto(const SessionInfo& info, v1::Session* session) {
  session->set_id(info.id);
  session->set_tokens(info.tokens);
  session->set_busy(info.busy);
  session->set_tier(info.tier);
}

}  // namespace ssm::server

#endif  // SSM_SERVER_SESSION_PROTO_H_
