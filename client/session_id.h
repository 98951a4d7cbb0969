#ifndef SSM_CLIENT_SESSION_ID_H_
#define SSM_CLIENT_SESSION_ID_H_

#include <cstdio>
#include <random>
#include <string>

namespace ssm::client {

// A fresh session id, chosen by the client so that a create or import is routed to the replica
// that later requests naming it will reach (proto/ssm/v1/inference.proto).
inline std::string NewSessionId() {
  static thread_local std::mt19937_64 random(std::random_device{}());
  char hex[33];
  std::snprintf(hex, sizeof hex, "%016llx%016llx", static_cast<unsigned long long>(random()),
                static_cast<unsigned long long>(random()));
  return hex;
}

// The part of a session id a gateway routes on, sent as x-session-id: up to the first '.'.
inline std::string SessionRoute(const std::string& id) { return id.substr(0, id.find('.')); }

}  // namespace ssm::client

#endif  // SSM_CLIENT_SESSION_ID_H_
