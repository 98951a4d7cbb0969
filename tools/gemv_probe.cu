// How close a batch-1 GEMV (bf16 matrix, fp32 vector) of mamba-1.4b's in_proj and out_proj shapes
// comes to a plain read of the same bytes, for several kernel structures: a pure read (the
// ceiling), the streaming structure kernels/cuda/gemv.cu had until 2026-12-07 (without its RMSNorm
// and conv), a warp per 1, 2 or 4 rows over a grid of many blocks (x from global memory or shared
// memory), all of a lane's loads issued first, and L1::no_allocate loads. Each figure is the mean
// of 200 back-to-back launches rotating through enough copies of the matrix that none sits in L2.
// Not part of the build (no dependencies); on the GPU machine:
//
//   nvcc -O3 -std=c++17 -arch=sm_90 tools/gemv_probe.cu -o gemv_probe && ./gemv_probe
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

__device__ __forceinline__ float2 W2(uint32_t b) {
  return __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&b));
}
__device__ __forceinline__ float Dot(uint4 p, float4 lo, float4 hi) {
  float2 a = W2(p.x), b = W2(p.y), c = W2(p.z), d = W2(p.w);
  return a.x * lo.x + a.y * lo.y + b.x * lo.z + b.y * lo.w + c.x * hi.x + c.y * hi.y + d.x * hi.z +
         d.y * hi.w;
}
template <bool kNA>
__device__ __forceinline__ uint4 Load(const uint4* p) {
  if constexpr (kNA) {
    uint4 v;
    asm volatile("ld.global.nc.L1::no_allocate.L2::256B.v4.u32 {%0,%1,%2,%3}, [%4];"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                 : "l"(p));
    return v;
  } else {
    return __ldg(p);
  }
}
__device__ __forceinline__ float WarpSum(float v) {
  for (int o = 16; o; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Pure read of the same bytes, warp per row.
template <bool kNA>
__global__ void __launch_bounds__(256)
    ReadRows(const uint4* w, int rows, int cols, const float* x, float* out) {
  const int loads = cols / 8, lane = threadIdx.x % 32, row = blockIdx.x * 8 + threadIdx.x / 32;
  if (row >= rows) return;
  uint32_t s = 0;
#pragma unroll 8
  for (int i = lane; i < loads; i += 32) {
    uint4 p = Load<kNA>(w + (size_t)row * loads + i);
    s ^= p.x ^ p.y ^ p.z ^ p.w;
  }
  if (s == 0x12345678u) out[row] = 1.0f;
}

// Warp per kRows rows, non-persistent grid; x from global (L1) or staged in shared memory.
template <int kRows, bool kXShared, bool kNA, int kUnroll>
__global__ void __launch_bounds__(256)
    GemvWarp(const uint4* w, int rows, int cols, const float* x, float* out) {
  extern __shared__ float4 xs[];
  const int loads = cols / 8, lane = threadIdx.x % 32;
  const int row0 = (blockIdx.x * 8 + threadIdx.x / 32) * kRows;
  if constexpr (kXShared) {
    for (int j = threadIdx.x; j < cols / 4; j += blockDim.x)
      xs[j] = reinterpret_cast<const float4*>(x)[j];
    __syncthreads();
  }
  const float4* xv = kXShared ? xs : reinterpret_cast<const float4*>(x);
  if (row0 >= rows) return;
  float acc[kRows] = {};
#pragma unroll kUnroll
  for (int i = lane; i < loads; i += 32) {
    uint4 p[kRows];
#pragma unroll
    for (int r = 0; r < kRows; ++r) p[r] = Load<kNA>(w + (size_t)(row0 + r) * loads + i);
    const float4 lo = xv[2 * i], hi = xv[2 * i + 1];
#pragma unroll
    for (int r = 0; r < kRows; ++r) acc[r] += Dot(p[r], lo, hi);
  }
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    float v = WarpSum(acc[r]);
    if (lane == 0) out[row0 + r] = v;
  }
}

// Like GemvWarp but a lane's loads of all its rows go out first (prefetched into registers), x
// after.
template <int kRows, int kLoadsPerLane, bool kNA>
__global__ void __launch_bounds__(256)
    GemvAllInFlight(const uint4* w, int rows, int cols, const float* x, float* out) {
  const int loads = cols / 8, lane = threadIdx.x % 32;
  const int row0 = (blockIdx.x * 8 + threadIdx.x / 32) * kRows;
  if (row0 >= rows) return;
  uint4 p[kRows][kLoadsPerLane];
#pragma unroll
  for (int r = 0; r < kRows; ++r)
#pragma unroll
    for (int j = 0; j < kLoadsPerLane; ++j)
      p[r][j] = Load<kNA>(w + (size_t)(row0 + r) * loads + lane + 32 * j);
  float acc[kRows] = {};
  const float4* xv = reinterpret_cast<const float4*>(x);
#pragma unroll
  for (int j = 0; j < kLoadsPerLane; ++j) {
    const int i = lane + 32 * j;
    const float4 lo = xv[2 * i], hi = xv[2 * i + 1];
#pragma unroll
    for (int r = 0; r < kRows; ++r) acc[r] += Dot(p[r][j], lo, hi);
  }
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    float v = WarpSum(acc[r]);
    if (lane == 0) out[row0 + r] = v;
  }
}

// The earlier design: a resident grid whose warps stream through rows, kWarpsPerRow per row.
template <int kWarpsPerRow>
__global__ void __launch_bounds__(256)
    Streaming(const uint4* w, int rows, int cols, const float* x, float* out) {
  constexpr int kUnroll = 8, kRowsPerBlock = 8 / kWarpsPerRow, kLaneStride = 32 * kWarpsPerRow;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, part = warp % kWarpsPerRow;
  const int loads = cols / 8, first = part * 32 + lane;
  const int rounds = max(1, (loads + kLaneStride * kUnroll - 1) / (kLaneStride * kUnroll));
  const int row_stride = gridDim.x * kRowsPerBlock;
  auto idx = [&](int round, int u) { return first + (round * kUnroll + u) * kLaneStride; };
  auto load = [&](int row, int round, int u) {
    const int i = idx(round, u);
    return row < rows && i < loads ? __ldg(w + (size_t)row * loads + i) : make_uint4(0, 0, 0, 0);
  };
  int block_row = blockIdx.x * kRowsPerBlock, row = block_row + warp / kWarpsPerRow, round = 0;
  uint4 packed[kUnroll];
#pragma unroll
  for (int u = 0; u < kUnroll; ++u) packed[u] = load(row, 0, u);
  float acc = 0;
  const float4* xv = reinterpret_cast<const float4*>(x);
  __shared__ float parts[8];
  while (block_row < rows) {
    const bool done = round + 1 == rounds;
    const int next_row = done ? row + row_stride : row, next_round = done ? 0 : round + 1;
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int i = idx(round, u);
      if (row < rows && i < loads) acc += Dot(packed[u], xv[2 * i], xv[2 * i + 1]);
      packed[u] = load(next_row, next_round, u);
    }
    if (!done) {
      round = next_round;
      continue;
    }
    acc = WarpSum(acc);
    if constexpr (kWarpsPerRow > 1) {
      if (lane == 0) parts[warp] = acc;
      __syncthreads();
      if (part == 0)
        for (int p = 1; p < kWarpsPerRow; ++p) acc += parts[warp + p];
      __syncthreads();
    }
    if (part == 0 && lane == 0 && row < rows) out[row] = acc;
    acc = 0;
    block_row += row_stride;
    row = next_row;
    round = next_round;
  }
}

int main() {
  int sms;
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0);
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  struct Shape {
    const char* name;
    int rows, cols;
  };
  for (Shape s :
       {Shape{"in_proj 8192x2048", 8192, 2048}, Shape{"out_proj 2048x4096", 2048, 4096}}) {
    const size_t bytes = size_t(s.rows) * s.cols * 2;
    const int copies = int((512ull << 20) / bytes) + 1;
    std::vector<uint16_t> hw(size_t(s.rows) * s.cols);
    uint32_t st = 1;
    for (auto& v : hw) {
      st = st * 1664525u + 1013904223u;
      float f = ((st >> 9) & 0xffff) / 65536.0f - 0.5f;
      uint32_t b;
      memcpy(&b, &f, 4);
      v = b >> 16;
    }
    std::vector<float> hx(s.cols);
    for (auto& v : hx) {
      st = st * 1664525u + 1013904223u;
      v = ((st >> 9) & 0xffff) / 65536.0f - 0.5f;
    }
    std::vector<double> ref(s.rows, 0);
    for (int r = 0; r < s.rows; ++r)
      for (int c = 0; c < s.cols; ++c) {
        uint32_t b = uint32_t(hw[size_t(r) * s.cols + c]) << 16;
        float f;
        memcpy(&f, &b, 4);
        ref[r] += double(f) * hx[c];
      }
    char* w;
    float *x, *out;
    cudaMalloc(&w, bytes * copies);
    cudaMalloc(&x, s.cols * 4);
    cudaMalloc(&out, s.rows * 4);
    for (int k = 0; k < copies; ++k)
      cudaMemcpy(w + k * bytes, hw.data(), bytes, cudaMemcpyHostToDevice);
    cudaMemcpy(x, hx.data(), s.cols * 4, cudaMemcpyHostToDevice);
    printf("== %s (%.1f MB, %d copies)\n", s.name, bytes / 1e6, copies);
    auto time = [&](const char* name, bool check, auto launch) {
      cudaMemset(out, 0, s.rows * 4);
      launch((const uint4*)w);
      cudaDeviceSynchronize();
      double err = 0;
      if (check) {
        std::vector<float> o(s.rows);
        cudaMemcpy(o.data(), out, s.rows * 4, cudaMemcpyDeviceToHost);
        for (int r = 0; r < s.rows; ++r) err = std::max(err, std::fabs(o[r] - ref[r]));
      }
      const int n = 200;
      cudaEventRecord(e0);
      for (int k = 0; k < n; ++k) launch((const uint4*)(w + (k % copies) * bytes));
      cudaEventRecord(e1);
      cudaEventSynchronize(e1);
      float ms;
      cudaEventElapsedTime(&ms, e0, e1);
      const double us = ms * 1e3 / n;
      printf("  %-34s %7.2f us  %5.2f TB/s  max err %.2e  %s\n", name, us, bytes / us / 1e6, err,
             cudaGetErrorString(cudaGetLastError()));
    };
    const int R = s.rows, C = s.cols;
    // Times `kernel` over `blocks` blocks of 256 threads (a warp per row or rows), checked
    // against the reference unless it only reads.
    auto run = [&](const char* name, bool check, auto kernel, int blocks, size_t shared = 0) {
      time(name, check, [&](const uint4* p) { kernel<<<blocks, 256, shared>>>(p, R, C, x, out); });
    };
    auto warps = [&](int rows_per_warp) { return (R / rows_per_warp + 7) / 8; };
    const size_t x_bytes = size_t(C) * 4;
    run("read warp/row", false, ReadRows<false>, warps(1));
    run("read warp/row no_allocate", false, ReadRows<true>, warps(1));
    const int warps_per_row = C <= 2048 ? 1 : 2;
    auto streaming = warps_per_row == 1 ? Streaming<1> : Streaming<2>;
    int resident;
    cudaOccupancyMaxActiveBlocksPerMultiprocessor(&resident, streaming, 256, 0);
    run(warps_per_row == 1 ? "streaming (earlier) wpr 1" : "streaming (earlier) wpr 2", true,
        streaming, std::min(resident * sms, (R * warps_per_row + 7) / 8));
    run("warp r1 x global u4", true, GemvWarp<1, false, false, 4>, warps(1));
    run("warp r1 x global u8", true, GemvWarp<1, false, false, 8>, warps(1));
    run("warp r2 x global u4", true, GemvWarp<2, false, false, 4>, warps(2));
    run("warp r4 x global u2", true, GemvWarp<4, false, false, 2>, warps(4));
    run("warp r2 x shared u4", true, GemvWarp<2, true, false, 4>, warps(2), x_bytes);
    run("warp r4 x shared u2", true, GemvWarp<4, true, false, 2>, warps(4), x_bytes);
    run("warp r1 x global u8 no_alloc", true, GemvWarp<1, false, true, 8>, warps(1));
    run("warp r2 x global u4 no_alloc", true, GemvWarp<2, false, true, 4>, warps(2));
    run("warp r4 x global u2 no_alloc", true, GemvWarp<4, false, true, 2>, warps(4));
    if (C == 2048) {
      run("all-in-flight r1 (8/lane)", true, GemvAllInFlight<1, 8, false>, warps(1));
      run("all-in-flight r2 (16/lane)", true, GemvAllInFlight<2, 8, false>, warps(2));
      run("all-in-flight r2 no_alloc", true, GemvAllInFlight<2, 8, true>, warps(2));
    } else {
      run("all-in-flight r1 (16/lane)", true, GemvAllInFlight<1, 16, false>, warps(1));
      run("all-in-flight r1 no_alloc", true, GemvAllInFlight<1, 16, true>, warps(1));
    }
    cudaFree(w);
    cudaFree(x);
    cudaFree(out);
  }
}
