#ifndef SSM_ENGINE_DTYPE_H_
#define SSM_ENGINE_DTYPE_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace ssm {

// Element types a checkpoint may store. Math is always fp32; these are storage formats.
enum class DType { kF32, kF16, kBF16 };

size_t DTypeSize(DType dtype);
const char* DTypeName(DType dtype);  // safetensors spelling: "F32", "F16", "BF16"
std::optional<DType> ParseDType(std::string_view safetensors_name);

// Widens `count` elements stored as `dtype` at `src` (any alignment) into fp32 `dst`.
void ConvertToFloat(DType dtype, const std::byte* src, size_t count, float* dst);

// Rounds `count` fp32 values to bf16 bit patterns, to nearest with ties to even (as CUDA's
// __float2bfloat16_rn); NaN stays NaN.
void RoundToBf16(const float* src, size_t count, uint16_t* dst);

}  // namespace ssm

#endif  // SSM_ENGINE_DTYPE_H_
