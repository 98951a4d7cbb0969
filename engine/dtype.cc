#include "engine/dtype.h"

#include <bit>
#include <cstring>

namespace ssm {

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
        dst[i] = static_cast<float>(std::bit_cast<_Float16>(bits));
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
