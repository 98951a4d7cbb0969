#include "kernels/cuda/linear.h"

#include "kernels/cuda/convert.h"
#include "kernels/cuda/gemv.h"
#include "kernels/cuda/skinny_gemm.h"
#include "kernels/cuda/speed_switch.h"

namespace ssm::kernels::cuda {
namespace {

cudaDataType_t CudaType(ElementType type) {
  switch (type) {
    case ElementType::kF16:
      return CUDA_R_16F;
    case ElementType::kBF16:
      return CUDA_R_16BF;
    case ElementType::kF32:
      break;
  }
  return CUDA_R_32F;
}

// The largest power of two up to 256 that divides the address: the alignment cuBLASLt may assume.
int64_t Alignment(const void* p) {
  const auto address = reinterpret_cast<uintptr_t>(p);
  int64_t alignment = 256;
  while (alignment > 1 && address % alignment != 0) alignment /= 2;
  return alignment;
}

// Destroys the descriptors of a plan (null ones are skipped).
void Destroy(cublasLtMatmulDesc_t operation, cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
             cublasLtMatrixLayout_t c) {
  for (cublasLtMatrixLayout_t layout : {a, b, c}) {
    if (layout != nullptr) cublasLtMatrixLayoutDestroy(layout);
  }
  if (operation != nullptr) cublasLtMatmulDescDestroy(operation);
}

}  // namespace

ElementType GemmInputType(const Matrix& w, int64_t tokens) {
  return w.type != ElementType::kF32 && tokens > kGemvMaxTokens ? w.type : ElementType::kF32;
}

Gemm::~Gemm() {
  for (auto& [shape, plan] : plans_) Destroy(plan.operation, plan.a, plan.b, plan.c);
  if (handle_ != nullptr) cublasLtDestroy(handle_);
}

cublasStatus_t Gemm::Init(cudaStream_t stream, void* workspace, size_t workspace_bytes) {
  stream_ = stream;
  workspace_ = workspace;
  workspace_bytes_ = workspace_bytes;
  return cublasLtCreate(&handle_);
}

cublasStatus_t Gemm::PlanFor(const std::array<int64_t, 10>& shape, Plan** plan) {
  if (auto it = plans_.find(shape); it != plans_.end()) {
    *plan = &it->second;
    return CUBLAS_STATUS_SUCCESS;
  }
  const auto [m, n, k, lda, ldb, ldc, element, align_a, align_b, align_c] = shape;
  const cudaDataType_t type = CudaType(static_cast<ElementType>(element));
  Plan made;
  cublasLtMatmulPreference_t preference = nullptr;
  cublasLtMatmulHeuristicResult_t best{};
  auto make = [&]() -> cublasStatus_t {
    const cublasOperation_t transpose = CUBLAS_OP_T, keep = CUBLAS_OP_N;
    cublasStatus_t status;
    if ((status = cublasLtMatmulDescCreate(&made.operation, CUBLAS_COMPUTE_32F, CUDA_R_32F)) ||
        (status = cublasLtMatmulDescSetAttribute(made.operation, CUBLASLT_MATMUL_DESC_TRANSA,
                                                 &transpose, sizeof(transpose))) ||
        (status = cublasLtMatmulDescSetAttribute(made.operation, CUBLASLT_MATMUL_DESC_TRANSB, &keep,
                                                 sizeof(keep)))) {
      return status;
    }
    // The layouts describe the matrices as stored, before the transposition: w as [k x m].
    if ((status = cublasLtMatrixLayoutCreate(&made.a, type, k, m, lda)) ||
        (status = cublasLtMatrixLayoutCreate(&made.b, type, k, n, ldb)) ||
        (status = cublasLtMatrixLayoutCreate(&made.c, CUDA_R_32F, m, n, ldc))) {
      return status;
    }
    // The algorithm may assume no more alignment than the pointers have, and no more workspace.
    const uint32_t alignments[4] = {static_cast<uint32_t>(align_a), static_cast<uint32_t>(align_b),
                                    static_cast<uint32_t>(align_c), static_cast<uint32_t>(align_c)};
    const cublasLtMatmulPreferenceAttributes_t alignment_attributes[4] = {
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
    const uint64_t workspace_bytes = workspace_bytes_;
    if ((status = cublasLtMatmulPreferenceCreate(&preference)) ||
        (status = cublasLtMatmulPreferenceSetAttribute(
             preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace_bytes,
             sizeof(workspace_bytes)))) {
      return status;
    }
    for (int i = 0; i < 4; ++i) {
      if ((status = cublasLtMatmulPreferenceSetAttribute(preference, alignment_attributes[i],
                                                         &alignments[i], sizeof(alignments[i])))) {
        return status;
      }
    }
    int found = 0;
    if ((status = cublasLtMatmulAlgoGetHeuristic(handle_, made.operation, made.a, made.b, made.c,
                                                 made.c, preference, 1, &best, &found))) {
      return status;
    }
    return found > 0 ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_NOT_SUPPORTED;
  };
  const cublasStatus_t status = make();
  if (preference != nullptr) cublasLtMatmulPreferenceDestroy(preference);
  if (status != CUBLAS_STATUS_SUCCESS) {
    Destroy(made.operation, made.a, made.b, made.c);
    return status;
  }
  made.algorithm = best.algo;
  *plan = &plans_.emplace(shape, made).first->second;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t Gemm::Linear(const GemmInput& x, int64_t tokens, const Matrix& w, const float* bias,
                            float* out, int64_t ldo, bool accumulate, void* scratch) {
  const void* input = x.data;
  int64_t ld_input = x.ld;
  if (x.type == ElementType::kF32) {
    const float* x32 = static_cast<const float*>(x.data);
    if (GemvSupports(w, x32, x.ld, tokens)) {
      Gemv(x32, x.ld, tokens, w, bias, out, ldo, accumulate, GemvNormalize{}, stream_);
      return CUBLAS_STATUS_SUCCESS;
    }
    if (w.type != ElementType::kF32) {
      Narrow(x32, tokens, w.cols, x.ld, scratch, w.type, stream_);
      input = scratch;
      ld_input = w.cols;
    }
  } else if (x.type != w.type) {
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  static const bool skinny = SpeedSwitchOn("SSM_CUDA_SKINNY_GEMM");
  if (skinny && SkinnyGemmSupports(w, input, ld_input, tokens)) {
    SkinnyGemm(input, ld_input, tokens, w, bias, out, ldo, accumulate, stream_);
    return CUBLAS_STATUS_SUCCESS;
  }
  // Column-major: out^T [rows x tokens] = w [cols x rows]^T . x^T [cols x tokens].
  Plan* plan = nullptr;
  const cublasStatus_t planned =
      PlanFor({w.rows, tokens, w.cols, w.cols, ld_input, ldo, static_cast<int64_t>(w.type),
               Alignment(w.data), Alignment(input), Alignment(out)},
              &plan);
  if (planned != CUBLAS_STATUS_SUCCESS) return planned;
  const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  const cublasStatus_t status = cublasLtMatmul(
      handle_, plan->operation, &alpha, w.data, plan->a, input, plan->b, &beta, out, plan->c, out,
      plan->c, &plan->algorithm, workspace_, workspace_bytes_, stream_);
  if (status == CUBLAS_STATUS_SUCCESS && bias != nullptr) {
    AddBias(out, tokens, w.rows, ldo, bias, stream_);
  }
  return status;
}

}  // namespace ssm::kernels::cuda
