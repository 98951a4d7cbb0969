#ifndef SSM_KERNELS_CUDA_LINEAR_H_
#define SSM_KERNELS_CUDA_LINEAR_H_

#include <cublasLt.h>

#include <array>
#include <cstdint>
#include <map>
#include <memory>

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

// Matrix products through cuBLASLt. Each shape's plan (the descriptors and an algorithm that
// fits the workspace) is made on first use and kept: decode steps ask for the same few shapes
// over and over. A plan takes the algorithm cuBLASLt's heuristic ranks first, which is host work
// only, so it may be made while a graph is being captured; or, from TimeNewPlans to
// StopTimingNewPlans, the fastest of the heuristic's first few, timed on the GPU.
class Gemm {
 public:
  Gemm();
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
  // (gemv.h). x must be fp32 or of w's type. With accumulate, the product is added to out (the
  // residual stream) instead of replacing it.
  cublasStatus_t Linear(const GemmInput& x, int64_t tokens, const Matrix& w, const float* bias,
                        float* out, int64_t ldo, bool accumulate, void* scratch);

  // From now on, until StopTimingNewPlans, a plan made for a new shape is the fastest of the
  // heuristic's first few algorithms, each run on the product's own operands from a cold L2 (in a
  // step each layer's weights come from DRAM), instead of the heuristic's first pick, which for
  // the skinny products of decode steps often is not the fastest. Timing synchronizes the
  // stream, so a plan made while the stream is being captured takes the heuristic's pick anyway;
  // and it costs milliseconds per new shape, which a prefill of a new length should not wait
  // for: the backend times the products of one uncaptured step of each decode bucket, before
  // capturing its graphs. Takes scratch memory of twice the L2 cache (an error if it cannot).
  cudaError_t TimeNewPlans();
  // Back to the heuristic's picks; frees what timing used.
  void StopTimingNewPlans();

 private:
  struct Plan {
    cublasLtMatmulDesc_t operation = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
    cublasLtMatmulAlgo_t algorithm{};
  };
  // A product's operands, for timing the algorithms that could run it.
  struct Operands {
    const void* w;
    const void* x;
    int64_t out_floats;  // ldo x tokens
    float beta;
  };
  // What timing needs, kept from TimeNewPlans to StopTimingNewPlans.
  struct Timing;

  // The plan for out^T [m x n] = w [k x m]^T . x^T [k x n] (column-major) with these leading
  // dimensions, element type and pointer alignments; made on first use.
  cublasStatus_t PlanFor(const std::array<int64_t, 10>& shape, const Operands& operands,
                         Plan** plan);
  // The index of the fastest of the `count` candidates for `plan`'s product, 0 where none could
  // be timed.
  int Fastest(const Plan& plan, const Operands& operands,
              const cublasLtMatmulHeuristicResult_t* candidates, int count);

  cublasLtHandle_t handle_ = nullptr;
  cudaStream_t stream_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  std::map<std::array<int64_t, 10>, Plan> plans_;
  std::unique_ptr<Timing> timing_;  // from TimeNewPlans to StopTimingNewPlans
};

}  // namespace ssm::kernels::cuda

#endif  // SSM_KERNELS_CUDA_LINEAR_H_
