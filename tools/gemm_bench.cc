// How long one decode-step product takes through cuBLASLt and through SkinnyGemm, for the
// matrices of a model shape and a few to 32 tokens (bf16 matrix, bf16 tokens, fp32 out, as
// Gemm::Linear runs them after narrowing). Each figure is the mean of back-to-back products that
// rotate through enough copies of the matrix that none is still in L2 when it comes round again,
// so the matrix is read from DRAM as in a decode step; "GB/s" counts the matrix's bytes only.
// On the GPU machine:
//
//   ssm_gemm_bench [a published shape: mamba-1.4b, mamba2-1.3b, ...] [tokens,tokens,...]
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "engine/model_config.h"
#include "kernels/cuda/linear.h"
#include "kernels/cuda/skinny_gemm.h"

namespace {

using ssm::kernels::cuda::ElementType;
using ssm::kernels::cuda::Gemm;
using ssm::kernels::cuda::GemmInput;
using ssm::kernels::cuda::Matrix;

struct Product {
  const char* name;
  int64_t rows, cols;
};

// The decode-step products of a model shape: one layer's, and the LM head's.
std::vector<Product> ProductsOf(const ssm::ModelConfig& c) {
  std::vector<Product> products = {{"in_proj", c.in_proj_size(), c.d_model}};
  if (c.architecture == ssm::Architecture::kMamba1) {
    products.push_back({"x_proj", c.dt_rank + 2 * c.d_state, c.d_inner});
    products.push_back({"dt_proj", c.d_inner, c.dt_rank});
  }
  products.push_back({"out_proj", c.d_model, c.d_inner});
  products.push_back({"lm_head", c.vocab_size, c.d_model});
  return products;
}

void Check(cudaError_t error, const char* what) {
  if (error != cudaSuccess) {
    std::fprintf(stderr, "%s: %s\n", what, cudaGetErrorString(error));
    std::exit(1);
  }
}

void CheckBlas(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS) {
    std::fprintf(stderr, "%s: cuBLAS status %d\n", what, static_cast<int>(status));
    std::exit(1);
  }
}

// Device memory of `count` random bf16 values in [-1, 1).
__nv_bfloat16* RandomBf16(size_t count, std::mt19937& random) {
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<__nv_bfloat16> host(count);
  for (auto& v : host) v = __float2bfloat16(uniform(random));
  __nv_bfloat16* device = nullptr;
  Check(cudaMalloc(&device, count * sizeof(__nv_bfloat16)), "cudaMalloc");
  Check(cudaMemcpy(device, host.data(), count * sizeof(__nv_bfloat16), cudaMemcpyHostToDevice),
        "cudaMemcpy");
  return device;
}

// Mean microseconds of `product(copy)` over `repeats` calls, after a warm-up round.
template <typename Run>
double MeanMicroseconds(int copies, int repeats, cudaStream_t stream, Run product) {
  for (int i = 0; i < copies; ++i) product(i);
  cudaEvent_t start, stop;
  Check(cudaEventCreate(&start), "cudaEventCreate");
  Check(cudaEventCreate(&stop), "cudaEventCreate");
  Check(cudaEventRecord(start, stream), "cudaEventRecord");
  for (int i = 0; i < repeats; ++i) product(i % copies);
  Check(cudaEventRecord(stop, stream), "cudaEventRecord");
  Check(cudaEventSynchronize(stop), "cudaEventSynchronize");
  Check(cudaGetLastError(), "a product");
  float milliseconds = 0.0f;
  Check(cudaEventElapsedTime(&milliseconds, start, stop), "cudaEventElapsedTime");
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return 1000.0 * milliseconds / repeats;
}

std::vector<int64_t> ParseTokens(const char* list) {
  std::vector<int64_t> tokens;
  for (const char* at = list; *at != '\0';) {
    char* end = nullptr;
    const long value = std::strtol(at, &end, 10);
    if (end == at || value < 1 || value > ssm::kernels::cuda::kSkinnyGemmMaxTokens) {
      std::fprintf(stderr, "token counts must be 1..%lld, comma-separated: %s\n",
                   static_cast<long long>(ssm::kernels::cuda::kSkinnyGemmMaxTokens), list);
      std::exit(2);
    }
    tokens.push_back(value);
    at = *end == ',' ? end + 1 : end;
  }
  return tokens;
}

void Bench(const std::string& shape, const std::vector<int64_t>& token_counts,
           const std::vector<Product>& products) {
  constexpr int64_t kRotationBytes = int64_t{512} << 20;  // ten times an H100's or H200's L2
  constexpr int kRepeats = 400;
  std::mt19937 random(7);
  cudaStream_t stream;
  Check(cudaStreamCreate(&stream), "cudaStreamCreate");
  constexpr size_t kWorkspaceBytes = size_t{32} << 20;
  void* workspace = nullptr;
  Check(cudaMalloc(&workspace, kWorkspaceBytes), "cudaMalloc");
  Gemm gemm;
  CheckBlas(gemm.Init(stream, workspace, kWorkspaceBytes), "cublasLtCreate");

  std::printf("%-12s %-9s %6s %6s %6s %11s %11s %11s %11s %7s\n", "shape", "product", "rows",
              "cols", "tokens", "cublas_us", "skinny_us", "cublas_GB/s", "skinny_GB/s", "speedup");
  for (const Product& p : products) {
    const int64_t matrix_bytes = p.rows * p.cols * 2;
    const int copies = static_cast<int>((kRotationBytes + matrix_bytes - 1) / matrix_bytes);
    const size_t elements = static_cast<size_t>(p.rows) * p.cols;
    __nv_bfloat16* matrices = nullptr;
    Check(cudaMalloc(&matrices, copies * elements * sizeof(__nv_bfloat16)), "cudaMalloc");
    __nv_bfloat16* values = RandomBf16(elements, random);
    for (int i = 0; i < copies; ++i) {
      Check(cudaMemcpy(matrices + i * elements, values, elements * sizeof(__nv_bfloat16),
                       cudaMemcpyDeviceToDevice),
            "cudaMemcpy");
    }
    cudaFree(values);
    const int64_t max_tokens = ssm::kernels::cuda::kSkinnyGemmMaxTokens;
    __nv_bfloat16* x = RandomBf16(static_cast<size_t>(max_tokens) * p.cols, random);
    float* out = nullptr;
    Check(cudaMalloc(&out, sizeof(float) * max_tokens * p.rows), "cudaMalloc");
    auto matrix = [&](int copy) {
      return Matrix{matrices + copy * elements, ElementType::kBF16, p.rows, p.cols};
    };
    for (const int64_t tokens : token_counts) {
      const double cublas = MeanMicroseconds(copies, kRepeats, stream, [&](int copy) {
        CheckBlas(gemm.Linear(GemmInput{x, ElementType::kBF16, p.cols}, tokens, matrix(copy),
                              nullptr, out, p.rows, false, nullptr),
                  "cublasLtMatmul");
      });
      double skinny = 0.0;
      if (ssm::kernels::cuda::SkinnyGemmSupports(matrix(0), x, p.cols, tokens)) {
        skinny = MeanMicroseconds(copies, kRepeats, stream, [&](int copy) {
          ssm::kernels::cuda::SkinnyGemm(x, p.cols, tokens, matrix(copy), nullptr, out, p.rows,
                                         false, stream);
        });
      }
      auto bandwidth = [&](double us) { return us > 0.0 ? matrix_bytes / us / 1e3 : 0.0; };
      std::printf("%-12s %-9s %6lld %6lld %6lld %11.2f %11.2f %11.0f %11.0f %7.2f\n", shape.c_str(),
                  p.name, static_cast<long long>(p.rows), static_cast<long long>(p.cols),
                  static_cast<long long>(tokens), cublas, skinny, bandwidth(cublas),
                  bandwidth(skinny), skinny > 0.0 ? cublas / skinny : 0.0);
    }
    cudaFree(out);
    cudaFree(x);
    cudaFree(matrices);
  }
  cudaFree(workspace);
  cudaStreamDestroy(stream);
}

}  // namespace

int main(int argc, char** argv) {
  // Gemm::Linear must run cuBLASLt here, whatever the token count: SkinnyGemm is timed directly.
  setenv("SSM_CUDA_SKINNY_GEMM", "0", 1);
  const std::string shape = argc > 1 ? argv[1] : "mamba-1.4b";
  const std::vector<int64_t> tokens = ParseTokens(argc > 2 ? argv[2] : "2,3,4,8,16,24,32");
  const absl::StatusOr<ssm::ModelConfig> config = ssm::PublishedShape(shape);
  if (!config.ok()) {
    std::fprintf(stderr, "%s\n", std::string(config.status().message()).c_str());
    return 2;
  }
  Bench(shape, tokens, ProductsOf(*config));
  return 0;
}
