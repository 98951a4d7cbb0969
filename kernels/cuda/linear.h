#ifndef SSM_KERNELS_CUDA_LINEAR_H_
#define SSM_KERNELS_CUDA_LINEAR_H_

#include <cublas_v2.h>

#include <cstdint>

#include "kernels/cuda/element_type.h"

namespace ssm::kernels::cuda {

// A weight matrix on the device, PyTorch's Linear layout: [out_features, in_features] row-major.
struct Matrix {
  const void* data = nullptr;
  ElementType type = ElementType::kF32;
  int64_t rows = 0;  // out_features
  int64_t cols = 0;  // in_features
};

// A GEMM's input rows: fp32, or already in the matrix's 16-bit type. Not const: the kernel
// that produces the rows writes through the same description.
struct GemmInput {
  void* data = nullptr;
  ElementType type = ElementType::kF32;
  int64_t ld = 0;
};

// The type in which the kernel producing a product's input should write it: the matrix's own
// 16-bit type when cuBLAS will run the product, so that no pass is spent narrowing it, else fp32
// (an fp32 matrix, or few enough tokens for Gemv, which reads fp32).
ElementType GemmInputType(const Matrix& w, int64_t tokens);

// out[t, :] (=|+=) x[t, :cols] . w^T (+ bias) for t < tokens, fp32 out, accumulation in fp32.
// An fp32 matrix multiplies in full fp32 (no TF32); an f16/bf16 matrix multiplies on the tensor
// cores, with fp32 x first rounded to its type in `scratch` (tokens x cols elements of it); for a
// few tokens of fp32 x (a decode step of a small batch) it goes through Gemv instead (gemv.h).
// x must be fp32 or of w's type. With accumulate, the product is added to out (the residual
// stream) instead of replacing it.
cublasStatus_t Linear(cublasHandle_t handle, const GemmInput& x, int64_t tokens, const Matrix& w,
                      const float* bias, float* out, int64_t ldo, bool accumulate, void* scratch);

}  // namespace ssm::kernels::cuda

#endif  // SSM_KERNELS_CUDA_LINEAR_H_
