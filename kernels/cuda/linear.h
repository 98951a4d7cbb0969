#ifndef SSM_KERNELS_CUDA_LINEAR_H_
#define SSM_KERNELS_CUDA_LINEAR_H_

#include <cublasLt.h>

#include <array>
#include <cstdint>
#include <map>

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

// Matrix products through cuBLASLt. Each shape's plan (the descriptors and the algorithm that
// cuBLASLt's heuristic picks for it within the workspace) is made on first use and kept: decode
// steps ask for the same few shapes over and over, and making a plan is host work only, so it
// may happen while a graph is being captured.
class Gemm {
 public:
  Gemm() = default;
  Gemm(const Gemm&) = delete;
  Gemm& operator=(const Gemm&) = delete;
  ~Gemm();

  // Products run on `stream`, with `workspace` (fixed, so that nothing is allocated while a
  // graph is captured; it must outlive this object).
  cublasStatus_t Init(cudaStream_t stream, void* workspace, size_t workspace_bytes);

  // out[t, :] (=|+=) x[t, :cols] . w^T (+ bias) for t < tokens, fp32 out, accumulation in fp32.
  // An fp32 matrix multiplies in full fp32 (no TF32); an f16/bf16 matrix multiplies on the tensor
  // cores, with fp32 x first rounded to its type in `scratch` (tokens x cols elements of it); for
  // a few tokens of fp32 x (a decode step of a small batch) it goes through Gemv instead
  // (gemv.h), and for a few more tokens through SkinnyGemm (skinny_gemm.h) unless
  // SSM_CUDA_SKINNY_GEMM=0 asks for cuBLASLt. x must be fp32 or of w's type. With accumulate, the
  // product is added to out (the residual stream) instead of replacing it.
  cublasStatus_t Linear(const GemmInput& x, int64_t tokens, const Matrix& w, const float* bias,
                        float* out, int64_t ldo, bool accumulate, void* scratch);

 private:
  struct Plan {
    cublasLtMatmulDesc_t operation = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
    cublasLtMatmulAlgo_t algorithm{};
  };
  // The plan for out^T [m x n] = w [k x m]^T . x^T [k x n] (column-major) with these leading
  // dimensions, element type and pointer alignments; made on first use.
  cublasStatus_t PlanFor(const std::array<int64_t, 10>& shape, Plan** plan);

  cublasLtHandle_t handle_ = nullptr;
  cudaStream_t stream_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  std::map<std::array<int64_t, 10>, Plan> plans_;
};

}  // namespace ssm::kernels::cuda

#endif  // SSM_KERNELS_CUDA_LINEAR_H_
