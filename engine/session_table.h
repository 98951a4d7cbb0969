#ifndef SSM_ENGINE_SESSION_TABLE_H_
#define SSM_ENGINE_SESSION_TABLE_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "engine/backend.h"

namespace ssm {

struct SessionInfo {
  std::string id;
  int64_t tokens = 0;  // context length: tokens fed so far, plus the last sampled one
  bool busy = false;   // a request is running on it
  std::string tier;    // where its state is: "device" (a slot of the pool) or "host"
};

// The part of a session id that picks its replica: the id up to its first '.' (forks are named
// "<parent's route>.<suffix>", so they route where their parent lives).
std::string_view SessionRoute(std::string_view id);

// The sessions and the backend's state slots they live in, with the host tier: when no slot is
// free, the least recently used idle session's state moves to host memory to make room, and
// comes back when the session is used. The slot pool also serves requests that run on a
// temporary state.
//
// Not thread-safe: the scheduler calls it under its own mutex, since submitting a request
// touches its queue and a session together. The slots it touches belong to no running step
// (idle sessions and free slots), so it may read and write them from any thread.
class SessionTable {
 public:
  using Clock = std::chrono::steady_clock;

  struct Session {
    int32_t slot = -1;              // -1 while on the host tier
    std::vector<float> host_state;  // the state while on the host tier
    int64_t fed_tokens = 0;
    std::optional<int32_t> unfed;  // the last sampled token, fed at the start of the next turn
    bool busy = false;
    Clock::time_point last_used = Clock::now();
  };

  // host_capacity: how many sessions may wait on the host (0: no host tier).
  SessionTable(Backend& backend, int32_t host_capacity);

  // A slot for new work: a free one, else an idle session's (see above); ResourceExhausted when
  // neither is possible.
  absl::StatusOr<int32_t> TakeSlot();
  void ReturnSlot(int32_t slot) { free_slots_.push_back(slot); }

  // The id for a new session: the client's choice, checked (1-64 of [A-Za-z0-9_-], unused), or
  // a random one when empty.
  absl::StatusOr<std::string> NewId(const std::string& requested);
  // A fresh id for a fork of `parent`, on the parent's route.
  std::string ForkId(const std::string& parent);
  // A new empty-context session under a checked id, in a slot (not yet cleared).
  absl::StatusOr<Session*> Add(const std::string& id);

  absl::StatusOr<Session*> Find(const std::string& id);
  // As Find, but FailedPrecondition while a request runs on it.
  absl::StatusOr<Session*> FindIdle(const std::string& id, const char* action);
  // Moves a session on the host tier back into a slot.
  absl::Status BringToDevice(Session& session);
  // The session's state, wherever it is.
  std::vector<float> State(const Session& session) const;
  void Erase(const std::string& id);
  // Deletes the idle sessions last used before `cutoff`.
  void ExpireIdle(Clock::time_point cutoff);

  static SessionInfo Describe(const std::string& id, const Session& session);
  std::vector<SessionInfo> List() const;
  int32_t size() const { return static_cast<int32_t>(sessions_.size()); }
  int32_t on_host() const { return on_host_; }
  int32_t slots_in_use() const;

 private:
  std::string RandomHex(int digits);
  // Gives back what holds a departing session's state.
  void DropState(const Session& session);

  Backend& backend_;
  int32_t host_capacity_;
  std::vector<int32_t> free_slots_;
  absl::flat_hash_map<std::string, Session> sessions_;
  int32_t on_host_ = 0;
  std::mt19937_64 random_{std::random_device()()};
};

}  // namespace ssm

#endif  // SSM_ENGINE_SESSION_TABLE_H_
