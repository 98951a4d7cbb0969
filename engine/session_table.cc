#include "engine/session_table.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace ssm {

std::string_view SessionRoute(std::string_view id) { return id.substr(0, id.find('.')); }

SessionTable::SessionTable(Backend& backend, int32_t host_capacity)
    : backend_(backend), host_capacity_(host_capacity) {
  for (int32_t slot = backend_.num_slots() - 1; slot >= 0; --slot) free_slots_.push_back(slot);
}

absl::StatusOr<int32_t> SessionTable::TakeSlot() {
  if (!free_slots_.empty()) {
    const int32_t slot = free_slots_.back();
    free_slots_.pop_back();
    return slot;
  }
  Session* oldest = nullptr;
  if (on_host_ < host_capacity_) {
    for (auto& [id, session] : sessions_) {
      if (session.busy || session.slot < 0) continue;
      if (oldest == nullptr || session.last_used < oldest->last_used) oldest = &session;
    }
  }
  if (oldest == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "no free state slot (all ", backend_.num_slots(), " in use",
        host_capacity_ > 0 ? ", and no idle session can move to the host tier)" : ")"));
  }
  oldest->host_state = backend_.ReadSlot(oldest->slot);
  const int32_t slot = oldest->slot;
  oldest->slot = -1;
  ++on_host_;
  return slot;
}

std::string SessionTable::RandomHex(int digits) {
  std::string hex;
  while (static_cast<int>(hex.size()) < digits) {
    absl::StrAppend(&hex, absl::Hex(random_(), absl::kZeroPad16));
  }
  return hex.substr(0, digits);
}

absl::StatusOr<std::string> SessionTable::NewId(const std::string& requested) {
  if (requested.empty()) return RandomHex(32);
  const bool valid =
      requested.size() <= 64 && std::all_of(requested.begin(), requested.end(), [](char c) {
        return absl::ascii_isalnum(c) || c == '_' || c == '-';
      });
  if (!valid) {
    return absl::InvalidArgumentError(absl::StrCat(
        "session id \"", requested, "\" is not 1-64 characters of letters, digits, _ and -"));
  }
  if (sessions_.contains(requested)) {
    return absl::AlreadyExistsError(absl::StrCat("session ", requested, " already exists"));
  }
  return requested;
}

std::string SessionTable::ForkId(const std::string& parent) {
  std::string id;
  do {
    id = std::string(SessionRoute(parent)) + "." + RandomHex(16);
  } while (sessions_.contains(id));
  return id;
}

absl::StatusOr<SessionTable::Session*> SessionTable::Add(const std::string& id) {
  absl::StatusOr<int32_t> slot = TakeSlot();
  if (!slot.ok()) return slot.status();
  Session session;
  session.slot = *slot;
  return &sessions_.emplace(id, std::move(session)).first->second;
}

absl::StatusOr<SessionTable::Session*> SessionTable::Find(const std::string& id) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) {
    return absl::NotFoundError(absl::StrCat("no session ", id, " (unknown or deleted)"));
  }
  return &it->second;
}

absl::StatusOr<SessionTable::Session*> SessionTable::FindIdle(const std::string& id,
                                                              const char* action) {
  absl::StatusOr<Session*> session = Find(id);
  if (session.ok() && (*session)->busy) {
    return absl::FailedPreconditionError(absl::StrCat("session ", id, " is busy with a request; ",
                                                      action, " it when the request ends"));
  }
  return session;
}

absl::Status SessionTable::BringToDevice(Session& session) {
  absl::StatusOr<int32_t> slot = TakeSlot();
  if (!slot.ok()) return slot.status();
  if (absl::Status s = backend_.WriteSlot(*slot, session.host_state); !s.ok()) {
    ReturnSlot(*slot);
    return s;
  }
  session.slot = *slot;
  session.host_state = {};
  --on_host_;
  return absl::OkStatus();
}

std::vector<float> SessionTable::State(const Session& session) const {
  return session.slot >= 0 ? backend_.ReadSlot(session.slot) : session.host_state;
}

void SessionTable::DropState(const Session& session) {
  if (session.slot >= 0) {
    ReturnSlot(session.slot);
  } else {
    --on_host_;
  }
}

void SessionTable::Erase(const std::string& id) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  DropState(it->second);
  sessions_.erase(it);
}

void SessionTable::ExpireIdle(Clock::time_point cutoff) {
  absl::erase_if(sessions_, [&](const auto& entry) {
    const Session& session = entry.second;
    if (session.busy || session.last_used > cutoff) return false;
    DropState(session);
    return true;
  });
}

SessionInfo SessionTable::Describe(const std::string& id, const Session& session) {
  return {.id = id,
          .tokens = session.fed_tokens + (session.unfed ? 1 : 0),
          .busy = session.busy,
          .tier = session.slot >= 0 ? "device" : "host"};
}

std::vector<SessionInfo> SessionTable::List() const {
  std::vector<SessionInfo> list;
  for (const auto& [id, session] : sessions_) list.push_back(Describe(id, session));
  return list;
}

int32_t SessionTable::slots_in_use() const {
  return backend_.num_slots() - static_cast<int32_t>(free_slots_.size());
}

}  // namespace ssm
