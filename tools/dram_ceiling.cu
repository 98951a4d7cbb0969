// The DRAM bandwidth a kernel can reach on this GPU, as a ceiling for the bench's roofline
// fractions: a read-only sweep, and a read and write back in place, which is what a decode step
// does with each session's state. Each figure is the mean of five runs over 4 GiB of float4s.
// Not part of the build (no dependencies); on the GPU machine:
//
//   nvcc -O3 -std=c++17 -arch=sm_90 tools/dram_ceiling.cu -o dram_ceiling && ./dram_ceiling
#include <cuda_runtime.h>

#include <cstdio>

namespace {

__global__ void ReadAll(const float4* __restrict__ data, size_t count, float* sink) {
  float sum = 0.0f;
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < count;
       i += size_t{gridDim.x} * blockDim.x) {
    const float4 v = data[i];
    sum += v.x + v.y + v.z + v.w;
  }
  if (sum == 12345.0f) *sink = sum;  // never true for zeros; keeps the loads alive
}

// Each thread loads kPerThread float4s (a block's are consecutive), then scales and stores them,
// as the decode scan loads a thread's state runs before it updates and stores them.
template <int kPerThread>
__global__ void ScaleInPlace(float4* data) {
  const size_t first = blockIdx.x * size_t{blockDim.x} * kPerThread + threadIdx.x;
  float4 v[kPerThread];
#pragma unroll
  for (int j = 0; j < kPerThread; ++j) v[j] = data[first + j * blockDim.x];
#pragma unroll
  for (int j = 0; j < kPerThread; ++j) {
    v[j].x *= 0.5f, v[j].y *= 0.5f, v[j].z *= 0.5f, v[j].w *= 0.5f;
    data[first + j * blockDim.x] = v[j];
  }
}

}  // namespace

int main() {
  constexpr size_t kBytes = size_t{4} << 30, kCount = kBytes / sizeof(float4);
  float4* data;
  float* sink;
  if (cudaMalloc(&data, kBytes) != cudaSuccess || cudaMalloc(&sink, sizeof(float)) != cudaSuccess) {
    std::fprintf(stderr, "cannot allocate 4 GiB on the GPU\n");
    return 1;
  }
  cudaMemset(data, 0, kBytes);
  int sms = 0;
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0);
  cudaDeviceProp props{};
  cudaGetDeviceProperties(&props, 0);
  std::printf("%s, %d SMs\n", props.name, sms);
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  auto report = [&](const char* what, double bytes_moved, auto launch) {
    constexpr int kRuns = 5;
    launch();  // warm-up
    cudaEventRecord(start);
    for (int r = 0; r < kRuns; ++r) launch();
    cudaEventRecord(stop);
    cudaEventSynchronize(stop);
    float ms = 0.0f;
    cudaEventElapsedTime(&ms, start, stop);
    ms /= kRuns;
    std::printf("%-36s %7.3f ms  %5.2f TB/s\n", what, ms, bytes_moved / ms / 1e9);
  };
  for (int blocks_per_sm : {4, 16}) {
    char what[64];
    std::snprintf(what, sizeof what, "read, grid-stride, %d blocks/SM", blocks_per_sm);
    report(what, kBytes, [&] { ReadAll<<<sms * blocks_per_sm, 256>>>(data, kCount, sink); });
  }
  report("read + write in place, 1 per thread", 2.0 * kBytes,
         [&] { ScaleInPlace<1><<<kCount / 128, 128>>>(data); });
  report("read + write in place, 4 per thread", 2.0 * kBytes,
         [&] { ScaleInPlace<4><<<kCount / 512, 128>>>(data); });
  const cudaError_t error = cudaGetLastError();
  if (error != cudaSuccess) {
    std::fprintf(stderr, "CUDA error: %s\n", cudaGetErrorString(error));
    return 1;
  }
  return 0;
}
