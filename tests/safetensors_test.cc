#include "engine/safetensors.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "engine/dtype.h"
#include "gtest/gtest.h"
#include "tests/support/fixtures.h"
#include "tests/support/safetensors_writer.h"

namespace ssm {
namespace {

using testing::SafetensorsImage;
using testing::TensorToWrite;

std::vector<std::byte> Bytes(size_t n) {
  std::vector<std::byte> bytes(n);
  for (size_t i = 0; i < n; ++i) bytes[i] = std::byte(i * 37);
  return bytes;
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> OpenImage(const std::string& image) {
  const std::string path = testing::MakeTempDir("safetensors") + "/file.safetensors";
  testing::WriteFile(path, image);
  return SafetensorsFile::Open(path);
}

// Expects Open to fail with a message containing `part`.
void ExpectOpenFails(const std::string& image, const std::string& part) {
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = OpenImage(image);
  ASSERT_FALSE(file.ok()) << "expected failure mentioning: " << part;
  EXPECT_NE(file.status().message().find(part), std::string::npos) << file.status();
  EXPECT_NE(file.status().message().find("file.safetensors"), std::string::npos) << file.status();
}

TEST(SafetensorsTest, ReadsTensorsOfEveryDType) {
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = OpenImage(SafetensorsImage({
      {"a", "F32", {2, 3}, Bytes(24)},
      {"b.half", "F16", {4}, Bytes(8)},
      {"c", "BF16", {1, 1, 2}, Bytes(4)},
      {"scalar", "F32", {}, Bytes(4)},
  }));
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_EQ((*file)->tensors().size(), 4u);
  const TensorView* a = (*file)->Find("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->dtype, DType::kF32);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a->ShapeString(), "[2, 3]");
  EXPECT_EQ(std::vector<std::byte>(a->bytes.begin(), a->bytes.end()), Bytes(24));
  EXPECT_EQ((*file)->Find("b.half")->dtype, DType::kF16);
  EXPECT_EQ((*file)->Find("c")->dtype, DType::kBF16);
  EXPECT_EQ((*file)->Find("scalar")->NumElements(), 1);
  EXPECT_EQ((*file)->Find("missing"), nullptr);
}

// The host's rounding to bf16 (a bf16-state GPU backend writes sessions through it) rounds to
// nearest with ties to even, as CUDA's __float2bfloat16_rn, and keeps NaN a NaN.
TEST(DTypeTest, RoundToBf16IsNearestWithTiesToEven) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> values = {1.0f,
                                     1.0f + 0x1p-8f,  // a tie below: to 1.0 (even)
                                     1.0f + 0x3p-8f,  // a tie above: to 1 + 2^-6 (even)
                                     1.0f + 0x1p-8f + 0x1p-20f,
                                     -2.5f,
                                     nan};
  std::vector<uint16_t> bits(values.size());
  RoundToBf16(values.data(), values.size(), bits.data());
  EXPECT_EQ(bits[0], 0x3f80);
  EXPECT_EQ(bits[1], 0x3f80);
  EXPECT_EQ(bits[2], 0x3f82);
  EXPECT_EQ(bits[3], 0x3f81);  // just above the tie: up
  EXPECT_EQ(bits[4], 0xc020);
  EXPECT_TRUE(std::isnan(std::bit_cast<float>(uint32_t{bits[5]} << 16)));
}

TEST(SafetensorsTest, IgnoresMetadata) {
  std::string image = SafetensorsImage({{"a", "F32", {1}, Bytes(4)}});
  // Rebuild the header with a __metadata__ entry in front.
  const std::string header =
      R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  const uint64_t length = header.size();
  std::string with_meta(8, '\0');
  std::memcpy(with_meta.data(), &length, 8);
  with_meta += header + image.substr(image.size() - 4);
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = OpenImage(with_meta);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->tensors().size(), 1u);
}

TEST(SafetensorsTest, MissingFileIsNotFound) {
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::Open("/nonexistent/x");
  EXPECT_EQ(file.status().code(), absl::StatusCode::kNotFound);
}

TEST(SafetensorsTest, RejectsEmptyAndTinyFiles) {
  ExpectOpenFails("", "truncated");
  ExpectOpenFails("abc", "truncated");
}

TEST(SafetensorsTest, RejectsHeaderLongerThanFile) {
  std::string image = SafetensorsImage({{"a", "F32", {4}, Bytes(16)}});
  ExpectOpenFails(image.substr(0, 20), "exceeds the file size");
}

TEST(SafetensorsTest, RejectsTruncatedData) {
  std::string image = SafetensorsImage({{"a", "F32", {4}, Bytes(16)}});
  ExpectOpenFails(image.substr(0, image.size() - 1), "truncated");
}

TEST(SafetensorsTest, RejectsGarbageHeader) {
  std::string image(8, '\0');
  image[0] = 10;
  ExpectOpenFails(image + "not json!!", "header is not a JSON object");
}

TEST(SafetensorsTest, RejectsUnknownDTypeNamingTheTensor) {
  ExpectOpenFails(SafetensorsImage({{"weird", "F64", {2}, Bytes(16)}}), "'weird' has dtype F64");
}

TEST(SafetensorsTest, RejectsSizeThatDisagreesWithShape) {
  ExpectOpenFails(SafetensorsImage({{"a", "F32", {3}, Bytes(8)}}), "8 bytes for shape [3]");
}

TEST(SafetensorsTest, RejectsMalformedEntries) {
  auto with_header = [](const std::string& header) {
    const uint64_t length = header.size();
    std::string image(8, '\0');
    std::memcpy(image.data(), &length, 8);
    return image + header + std::string(16, '\0');
  };
  ExpectOpenFails(with_header(R"({"a":{"dtype":"F32","shape":[4]}})"), "lacks dtype");
  ExpectOpenFails(with_header(R"({"a":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}})"),
                  "bad shape");
  ExpectOpenFails(with_header(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[8,4]}})"),
                  "outside");
  ExpectOpenFails(with_header(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0]}})"),
                  "data_offsets is not");
  ExpectOpenFails(
      with_header(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,16]}})"),
      "shape");
  ExpectOpenFails(with_header(R"([1,2,3])"), "header is not a JSON object");
}

}  // namespace
}  // namespace ssm
