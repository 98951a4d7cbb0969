#include "engine/session_codec.h"

#include "gtest/gtest.h"

namespace ssm {
namespace {

SessionSnapshot Example() {
  return {
      .model_fingerprint = 0x1234, .fed_tokens = 77, .unfed = 42, .state = {1.5f, -2.0f, 3.25f}};
}

TEST(SessionCodecTest, RoundTrips) {
  absl::StatusOr<SessionSnapshot> decoded = DecodeSession(EncodeSession(Example()), 0x1234, 3);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->fed_tokens, 77);
  EXPECT_EQ(decoded->unfed, 42);
  EXPECT_EQ(decoded->state, Example().state);
  SessionSnapshot no_unfed = Example();
  no_unfed.unfed.reset();
  EXPECT_FALSE(DecodeSession(EncodeSession(no_unfed), 0x1234, 3)->unfed.has_value());
}

TEST(SessionCodecTest, RefusesDamageWithAClearMessage) {
  const std::string bytes = EncodeSession(Example());
  auto message = [](const absl::StatusOr<SessionSnapshot>& s) {
    return std::string(s.status().message());
  };
  std::string flipped = bytes;
  flipped[bytes.size() - 8] ^= 1;  // inside the state
  EXPECT_NE(message(DecodeSession(flipped, 0x1234, 3)).find("checksum"), std::string::npos);
  EXPECT_NE(message(DecodeSession(bytes.substr(0, bytes.size() - 3), 0x1234, 3)).find("truncated"),
            std::string::npos);
  EXPECT_NE(message(DecodeSession("garbage", 0x1234, 3)).find("magic"), std::string::npos);
  std::string future = bytes;
  future[4] = 9;  // format version
  EXPECT_NE(message(DecodeSession(future, 0x1234, 3)).find("version 9"), std::string::npos);
  EXPECT_EQ(DecodeSession(bytes, 0x9999, 3).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(message(DecodeSession(bytes, 0x1234, 4)).find("3 floats"), std::string::npos);
}

}  // namespace
}  // namespace ssm
