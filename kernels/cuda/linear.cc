#include "kernels/cuda/linear.h"

#include "kernels/cuda/convert.h"
#include "kernels/cuda/gemv.h"

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

}  // namespace

ElementType GemmInputType(const Matrix& w, int64_t tokens) {
  return w.type != ElementType::kF32 && tokens > kGemvMaxTokens ? w.type : ElementType::kF32;
}

cublasStatus_t Linear(cublasHandle_t handle, const GemmInput& x, int64_t tokens, const Matrix& w,
                      const float* bias, float* out, int64_t ldo, bool accumulate, void* scratch) {
  cudaStream_t stream = nullptr;
  if (cublasStatus_t status = cublasGetStream(handle, &stream); status != CUBLAS_STATUS_SUCCESS) {
    return status;
  }
  const void* input = x.data;
  int64_t ld_input = x.ld;
  if (x.type == ElementType::kF32) {
    const float* x32 = static_cast<const float*>(x.data);
    if (GemvSupports(w, x32, x.ld, tokens)) {
      Gemv(x32, x.ld, tokens, w, bias, out, ldo, accumulate, GemvNormalize{}, stream);
      return CUBLAS_STATUS_SUCCESS;
    }
    if (w.type != ElementType::kF32) {
      Narrow(x32, tokens, w.cols, x.ld, scratch, w.type, stream);
      input = scratch;
      ld_input = w.cols;
    }
  } else if (x.type != w.type) {
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  // cuBLAS is column-major: out^T [rows x tokens] = w [cols x rows]^T . x^T [cols x tokens].
  const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  const cudaDataType_t type = CudaType(w.type);
  const cublasStatus_t status = cublasGemmEx(
      handle, CUBLAS_OP_T, CUBLAS_OP_N, w.rows, tokens, w.cols, &alpha, w.data, type, w.cols, input,
      type, ld_input, &beta, out, CUDA_R_32F, ldo, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
  if (status == CUBLAS_STATUS_SUCCESS && bias != nullptr) {
    AddBias(out, tokens, w.rows, ldo, bias, stream);
  }
  return status;
}

}  // namespace ssm::kernels::cuda
