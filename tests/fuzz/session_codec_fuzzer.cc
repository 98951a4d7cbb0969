// libFuzzer target: session import (engine/session_codec.h), the bytes ImportSession accepts
// from clients. Two kinds of input: raw bytes, and a valid encoding with a few bytes changed
// and its checksum made valid again (so the fields behind the checksum are reached). Checks,
// besides "no crash, no sanitizer report": what decodes has the expected state size and
// fingerprint, and survives encoding and decoding again unchanged. tools/run_fuzzers.sh builds
// and runs it.
#include <fuzzer/FuzzedDataProvider.h>
#include <zlib.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "engine/session_codec.h"
#include "tests/fuzz/check.h"

using ssm::fuzz::Check;

namespace {

constexpr uint64_t kFingerprint = 0x5353'4d53'0000'0001;

// The encoding of a snapshot drawn from the input, with some bytes changed and the trailing
// CRC-32 recomputed.
std::string Tampered(FuzzedDataProvider& in, size_t state_floats) {
  ssm::SessionSnapshot snapshot;
  snapshot.model_fingerprint = in.ConsumeBool() ? kFingerprint : in.ConsumeIntegral<uint64_t>();
  snapshot.fed_tokens = in.ConsumeIntegral<int64_t>();
  if (in.ConsumeBool()) snapshot.unfed = in.ConsumeIntegral<int32_t>();
  snapshot.state.resize(in.ConsumeBool() ? state_floats : in.ConsumeIntegralInRange<size_t>(0, 64));
  for (float& v : snapshot.state) v = in.ConsumeFloatingPoint<float>();
  std::string bytes = ssm::EncodeSession(snapshot);
  for (int changes = in.ConsumeIntegralInRange<int>(0, 4); changes > 0; --changes) {
    bytes[in.ConsumeIntegralInRange<size_t>(0, bytes.size() - 1)] = in.ConsumeIntegral<char>();
  }
  if (in.ConsumeBool()) bytes.resize(in.ConsumeIntegralInRange<size_t>(0, bytes.size()));
  if (bytes.size() >= 4) {
    const uint32_t crc = crc32(0L, reinterpret_cast<const Bytef*>(bytes.data()),
                               static_cast<uInt>(bytes.size() - 4));
    std::memcpy(bytes.data() + bytes.size() - 4, &crc, 4);  // little-endian, as the format
  }
  return bytes;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  const size_t state_floats = in.ConsumeIntegralInRange<size_t>(0, 32);
  const std::string bytes =
      in.ConsumeBool() ? Tampered(in, state_floats) : in.ConsumeRemainingBytesAsString();
  const absl::StatusOr<ssm::SessionSnapshot> decoded =
      ssm::DecodeSession(bytes, kFingerprint, state_floats);
  if (decoded.ok()) {
    Check(decoded->state.size() == state_floats);
    Check(decoded->model_fingerprint == kFingerprint);
    const absl::StatusOr<ssm::SessionSnapshot> again =
        ssm::DecodeSession(ssm::EncodeSession(*decoded), kFingerprint, state_floats);
    Check(again.ok() && again->fed_tokens == decoded->fed_tokens &&
          again->unfed == decoded->unfed && again->state.size() == decoded->state.size());
    // Bit for bit (a NaN in the state is not equal to itself).
    Check(again->state.empty() || std::memcmp(again->state.data(), decoded->state.data(),
                                              state_floats * sizeof(float)) == 0);
  }
  return 0;
}
