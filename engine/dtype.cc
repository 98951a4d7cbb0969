#include "engine/dtype.h"

#include <bit>
#include <cmath>
#include <cstring>

namespace ssm {
namespace {

// IEEE half to float, bit by bit (no compiler half type needed): zero and subnormals are
// mantissa x 2^-24, normals rebias the exponent; exact for all 65,536 patterns.
float HalfToFloat(uint16_t half) {
  const uint32_t sign = static_cast<uint32_t>(half & 0x8000u) << 16;
  const uint32_t exponent = (half >> 10) & 0x1fu, mantissa = half & 0x3ffu;
  if (exponent == 0) {
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign != 0 ? -magnitude : magnitude;
  }
  if (exponent == 0x1f) {  // infinity, or NaN (made quiet, as a hardware conversion does)
    return std::bit_cast<float>(sign | 0x7f800000u | mantissa << 13 |
                                (mantissa != 0 ? 0x400000u : 0u));
  }
  return std::bit_cast<float>(sign | (exponent + 112) << 23 | mantissa << 13);
}

}  // namespace

size_t DTypeSize(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return 4;
    case DType::kF16:
    case DType::kBF16:
      return 2;
  }
  return 0;
}

const char* DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return "F32";
    case DType::kF16:
      return "F16";
    case DType::kBF16:
      return "BF16";
  }
  return "?";
}

std::optional<DType> ParseDType(std::string_view name) {
  if (name == "F32") return DType::kF32;
  if (name == "F16") return DType::kF16;
  if (name == "BF16") return DType::kBF16;
  return std::nullopt;
}

void ConvertToFloat(DType dtype, const std::byte* src, size_t count, float* dst) {
  switch (dtype) {
    case DType::kF32:
      std::memcpy(dst, src, count * sizeof(float));
      return;
    case DType::kF16:
      for (size_t i = 0; i < count; ++i) {
        uint16_t bits;
        std::memcpy(&bits, src + 2 * i, 2);
        dst[i] = HalfToFloat(bits);
      }
      return;
    case DType::kBF16:
      for (size_t i = 0; i < count; ++i) {
        uint16_t bits;
        std::memcpy(&bits, src + 2 * i, 2);
        dst[i] = std::bit_cast<float>(static_cast<uint32_t>(bits) << 16);
      }
      return;
  }
}

void RoundToBf16(const float* src, size_t count, uint16_t* dst) {
  for (size_t i = 0; i < count; ++i) {
    const uint32_t bits = std::bit_cast<uint32_t>(src[i]);
    if ((bits & 0x7fffffffu) > 0x7f800000u) {  // NaN: keep it one (quiet)
      dst[i] = static_cast<uint16_t>((bits >> 16) | 0x40);
      continue;
    }
    const uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
    dst[i] = static_cast<uint16_t>((bits + rounding) >> 16);
  }
}

}  // namespace ssm
