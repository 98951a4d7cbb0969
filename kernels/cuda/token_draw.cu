#include <cfloat>

#include "kernels/cuda/token_draw.h"

namespace ssm::kernels::cuda {
namespace {

constexpr int kThreads = 1024;
constexpr int kWarps = kThreads / 32;
constexpr double kWeightUnits = 1099511627776.0;  // 2^40, as kDrawWeightUnits

// What one row's draw keeps, cut by cut, and the weights of what it keeps.
struct Cuts {
  float max_logit, floor, temperature;
  float kth_logit = -FLT_MAX;  // top_k: keep logits >= this
  float min_weight = 0.0f;     // min_p, then top_p: keep weights >= this

  __device__ float Weight(float logit) const { return expf((logit - max_logit) / temperature); }
  // The token's weight in 2^-40 units if it is kept, else 0.
  __device__ unsigned long long Units(float logit) const {
    if (logit < floor || logit < kth_logit) return 0;
    const float weight = Weight(logit);  // NaN (from a NaN or infinite logit) weighs nothing
    return weight >= min_weight && weight > 0.0f
               ? static_cast<unsigned long long>(weight * kWeightUnits)
               : 0;
  }
};

// Block-wide reductions; every thread gets the result. `scratch` holds kWarps values.
template <typename T, typename Op>
__device__ T BlockReduce(T value, Op op, T* scratch) {
  for (int offset = 16; offset > 0; offset /= 2) {
    value = op(value, __shfl_xor_sync(0xffffffffu, value, offset));
  }
  __syncthreads();  // scratch may still be read from the last call
  if (threadIdx.x % 32 == 0) scratch[threadIdx.x / 32] = value;
  __syncthreads();
  value = scratch[0];
  for (int w = 1; w < kWarps; ++w) value = op(value, scratch[w]);
  return value;
}

// Logits as unsigned keys in the same order.
__device__ unsigned OrderedKey(float v) {
  const unsigned bits = __float_as_uint(v);
  return bits & 0x80000000u ? ~bits : bits | 0x80000000u;
}
__device__ float FromOrderedKey(unsigned key) {
  return __uint_as_float(key & 0x80000000u ? key & 0x7fffffffu : ~key);
}

// The largest key t such that the elements with key >= t weigh at least `target` in total: a
// radix selection, eight bits at a time from the top. key_of(i) gives element i's key and
// weight_of(i) its weight (0 leaves it out).
template <typename KeyOf, typename WeightOf>
__device__ unsigned SelectFromTop(int64_t count, unsigned long long target, KeyOf key_of,
                                  WeightOf weight_of) {
  __shared__ unsigned long long histogram[256];
  __shared__ unsigned chosen_digit;
  __shared__ unsigned long long chosen_remaining;
  unsigned prefix = 0, mask = 0;
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int d = threadIdx.x; d < 256; d += blockDim.x) histogram[d] = 0;
    __syncthreads();
    for (int64_t i = threadIdx.x; i < count; i += blockDim.x) {
      const unsigned key = key_of(i);
      if ((key & mask) != prefix) continue;
      const unsigned long long weight = weight_of(i);
      if (weight != 0) atomicAdd(&histogram[(key >> shift) & 0xff], weight);
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      unsigned long long above = 0;
      int digit = 255;
      for (; digit > 0 && above + histogram[digit] < target; --digit) above += histogram[digit];
      chosen_digit = digit;
      chosen_remaining = target - above;
    }
    __syncthreads();
    prefix |= chosen_digit << shift;
    mask |= 0xffu << shift;
    target = chosen_remaining;
  }
  return prefix;
}

// Exclusive prefix sum over the block's threads.
__device__ unsigned long long BlockExclusiveSum(unsigned long long value,
                                                unsigned long long* scratch) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  unsigned long long inclusive = value;
  for (int offset = 1; offset < 32; offset *= 2) {
    const unsigned long long before = __shfl_up_sync(0xffffffffu, inclusive, offset);
    if (lane >= offset) inclusive += before;
  }
  __syncthreads();
  if (lane == 31) scratch[warp] = inclusive;
  __syncthreads();
  unsigned long long warps_before = 0;
  for (int w = 0; w < warp; ++w) warps_before += scratch[w];
  return warps_before + inclusive - value;
}

__global__ void __launch_bounds__(kThreads)
    DrawTokensKernel(float* logits, int64_t ld, int64_t vocab, const DrawParams* params,
                     const int32_t* extras, int32_t* ids) {
  __shared__ float float_scratch[kWarps];
  __shared__ unsigned long long sum_scratch[kWarps];
  __shared__ long long index_scratch[kWarps];
  float* row = logits + blockIdx.x * ld;
  const DrawParams p = params[blockIdx.x];

  // Penalties, then bans, on the row in place (the block owns it). Each penalized id appears
  // once; the arithmetic is rounded step by step as on the host (no fused multiply-add).
  for (int e = threadIdx.x; e < p.penalized_count; e += blockDim.x) {
    const int32_t id = extras[p.penalized_begin + 2 * e];
    const int32_t generated = extras[p.penalized_begin + 2 * e + 1];
    float l = row[id];
    l = l > 0 ? __fdiv_rn(l, p.repetition_penalty) : __fmul_rn(l, p.repetition_penalty);
    if (generated > 0) {
      l = __fsub_rn(l, __fadd_rn(p.presence_penalty,
                                 __fmul_rn(p.frequency_penalty, static_cast<float>(generated))));
    }
    row[id] = l;
  }
  __syncthreads();
  for (int e = threadIdx.x; e < p.banned_count; e += blockDim.x) {
    row[extras[p.banned_begin + e]] = -INFINITY;
  }
  __syncthreads();

  float best = -FLT_MAX;
  long long best_id = vocab;
  for (int64_t i = threadIdx.x; i < vocab; i += blockDim.x) {
    if (row[i] > best) best = row[i], best_id = i;  // the first of this thread's on ties
  }
  const float max_logit = BlockReduce(
      best, [](float a, float b) { return fmaxf(a, b); }, float_scratch);
  if (best != max_logit) best_id = vocab;
  long long argmax = BlockReduce(
      best_id, [](long long a, long long b) { return a < b ? a : b; }, index_scratch);
  if (argmax == vocab) argmax = 0;  // all -inf or NaN: the first, as std::max_element gives
  if (p.temperature == 0.0f) {
    if (threadIdx.x == 0) ids[blockIdx.x] = static_cast<int32_t>(argmax);
    return;
  }

  Cuts cuts{.max_logit = max_logit,
            .floor = max_logit - 69.0f * p.temperature,
            .temperature = p.temperature};
  if (p.top_k > 0) {
    unsigned long long candidates = 0;
    for (int64_t i = threadIdx.x; i < vocab; i += blockDim.x) candidates += row[i] >= cuts.floor;
    candidates = BlockReduce(
        candidates, [](unsigned long long a, unsigned long long b) { return a + b; }, sum_scratch);
    if (static_cast<unsigned long long>(p.top_k) < candidates) {
      cuts.kth_logit = FromOrderedKey(SelectFromTop(
          vocab, p.top_k, [&](int64_t i) { return OrderedKey(row[i]); },
          [&](int64_t i) { return row[i] >= cuts.floor ? 1ull : 0ull; }));
    }
  }
  cuts.min_weight = p.min_p;
  auto total_units = [&] {
    unsigned long long units = 0;
    for (int64_t i = threadIdx.x; i < vocab; i += blockDim.x) units += cuts.Units(row[i]);
    return BlockReduce(
        units, [](unsigned long long a, unsigned long long b) { return a + b; }, sum_scratch);
  };
  unsigned long long total = total_units();
  if (p.top_p < 1.0f && total > 0) {
    const auto target = static_cast<unsigned long long>(ceil(static_cast<double>(p.top_p) * total));
    // Weights are positive floats, whose bits are already in order.
    cuts.min_weight = __uint_as_float(SelectFromTop(
        vocab, target, [&](int64_t i) { return __float_as_uint(cuts.Weight(row[i])); },
        [&](int64_t i) { return cuts.Units(row[i]); }));
    total = total_units();
  }

  // Broken logits (all -inf, or NaN or +inf among them) leave nothing to draw from: the argmax,
  // as on the host.
  if (total == 0) {
    if (threadIdx.x == 0) ids[blockIdx.x] = static_cast<int32_t>(argmax);
    return;
  }
  // The walk in id order: thread t owns a run of consecutive ids; the one whose share of the
  // running total holds the drawn point walks its run.
  const unsigned long long point =
      min(static_cast<unsigned long long>(p.uniform * total), total - 1);
  const int64_t per_thread = (vocab + blockDim.x - 1) / blockDim.x;
  const int64_t begin = threadIdx.x * per_thread, end = min(vocab, begin + per_thread);
  unsigned long long mine = 0;
  for (int64_t i = begin; i < end; ++i) mine += cuts.Units(row[i]);
  unsigned long long running = BlockExclusiveSum(mine, sum_scratch);
  if (running <= point && point < running + mine) {
    for (int64_t i = begin; i < end; ++i) {
      running += cuts.Units(row[i]);
      if (running > point) {
        ids[blockIdx.x] = static_cast<int32_t>(i);
        return;
      }
    }
  }
}

}  // namespace

void DrawTokens(float* logits, int64_t ld, int rows, int64_t vocab, const DrawParams* params,
                const int32_t* extras, int32_t* ids, cudaStream_t stream) {
  if (rows == 0) return;
  DrawTokensKernel<<<rows, kThreads, 0, stream>>>(logits, ld, vocab, params, extras, ids);
}

}  // namespace ssm::kernels::cuda
