#include "engine/session_codec.h"

#include <zlib.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace ssm {
namespace {

constexpr char kMagic[4] = {'S', 'S', 'M', 'S'};
constexpr uint32_t kVersion = 1;
constexpr size_t kHeaderBytes = 4 + 4 + 8 + 8 + 1 + 4 + 8;

template <typename T>
void Put(std::string& out, T value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof value);
}

template <typename T>
T Get(std::string_view bytes, size_t& pos) {
  T value;
  std::memcpy(&value, bytes.data() + pos, sizeof value);
  pos += sizeof value;
  return value;
}

uint32_t Checksum(std::string_view bytes) {
  return static_cast<uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size())));
}

}  // namespace

std::string EncodeSession(const SessionSnapshot& s) {
  std::string out(kMagic, sizeof kMagic);
  Put(out, kVersion);
  Put(out, s.model_fingerprint);
  Put(out, s.fed_tokens);
  Put(out, static_cast<uint8_t>(s.unfed.has_value()));
  Put(out, s.unfed.value_or(0));
  Put(out, static_cast<uint64_t>(s.state.size()));
  out.append(reinterpret_cast<const char*>(s.state.data()), s.state.size() * sizeof(float));
  Put(out, Checksum(out));
  return out;
}

absl::StatusOr<SessionSnapshot> DecodeSession(std::string_view bytes, uint64_t model_fingerprint,
                                              size_t state_floats) {
  auto invalid = [](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat("session data: ", what));
  };
  if (bytes.size() < kHeaderBytes + 4 || std::memcmp(bytes.data(), kMagic, 4) != 0) {
    return invalid("not an exported session (bad magic or too short)");
  }
  size_t pos = 4;
  const uint32_t version = Get<uint32_t>(bytes, pos);
  if (version != kVersion) {
    return invalid(absl::StrCat("format version ", version, "; this server reads ", kVersion));
  }
  SessionSnapshot s;
  s.model_fingerprint = Get<uint64_t>(bytes, pos);
  s.fed_tokens = Get<int64_t>(bytes, pos);
  const bool has_unfed = Get<uint8_t>(bytes, pos) != 0;
  const int32_t unfed = Get<int32_t>(bytes, pos);
  if (has_unfed) s.unfed = unfed;
  const uint64_t floats = Get<uint64_t>(bytes, pos);
  if (floats > (bytes.size() - pos) / sizeof(float) ||
      bytes.size() != pos + floats * sizeof(float) + 4) {
    return invalid("length does not match its header (truncated?)");
  }
  size_t end = pos + floats * sizeof(float);
  uint32_t stored;
  std::memcpy(&stored, bytes.data() + end, 4);
  if (stored != Checksum(bytes.substr(0, end))) return invalid("checksum mismatch (corrupted)");
  if (s.model_fingerprint != model_fingerprint) {
    return absl::FailedPreconditionError(
        "session data: exported from a different model (fingerprint mismatch)");
  }
  if (floats != state_floats) {
    return invalid(absl::StrCat("state has ", floats, " floats; this model's has ", state_floats));
  }
  s.state.resize(floats);
  if (floats > 0) std::memcpy(s.state.data(), bytes.data() + pos, floats * sizeof(float));
  return s;
}

}  // namespace ssm
