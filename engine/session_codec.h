#ifndef SSM_ENGINE_SESSION_CODEC_H_
#define SSM_ENGINE_SESSION_CODEC_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace ssm {

// A session's state as portable bytes, so a conversation can move to another replica or survive
// a restart. Layout (little-endian):
//   "SSMS" | format version u32 | model fingerprint u64 | fed tokens i64 | has unfed u8 |
//   unfed token i32 | state floats u64 | state f32[...] | CRC-32 (zlib) of all before it, u32
struct SessionSnapshot {
  uint64_t model_fingerprint = 0;
  int64_t fed_tokens = 0;
  std::optional<int32_t> unfed;
  std::vector<float> state;
};

std::string EncodeSession(const SessionSnapshot& snapshot);

// Checks magic, version, length and checksum (InvalidArgument naming what is wrong), and that
// the state was made by the same model (FailedPrecondition) with the expected size.
absl::StatusOr<SessionSnapshot> DecodeSession(std::string_view bytes, uint64_t model_fingerprint,
                                              size_t state_floats);

}  // namespace ssm

#endif  // SSM_ENGINE_SESSION_CODEC_H_
