#include "kernels/cuda/numeric.cuh"
#include "kernels/cuda/selective_scan.h"

namespace ssm::kernels::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kChunk = 8;  // tokens whose inputs are loaded together

// kLanes lanes share a row; lane l holds state elements l, l + kLanes, ... (kPerLane of them),
// so the lanes of a row read B, C and the state coalesced. The row's dot product C . state is
// reduced across its lanes with shuffles.
template <int kLanes, int kPerLane>
__global__ void ScanRows(StepLayout step, StatePool pool, int64_t layer, int64_t conv_floats,
                         ScanArgs a) {
  constexpr int kRowsPerBlock = kThreads / kLanes;
  constexpr int kStates = kLanes * kPerLane;
  const int lane = threadIdx.x % kLanes;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / kLanes;
  // Rows past the end still run (on the last row, without writing), so that every lane of a
  // warp takes part in the shuffles.
  const bool active = row < a.rows;
  const int64_t r = active ? row : a.rows - 1;
  const int s = blockIdx.y;
  const int64_t head = r / a.head_dim, group = head / a.heads_per_group;

  float* state = pool.Layer(step.seq_slot[s], layer) + conv_floats + r * kStates;
  float h[kPerLane], A[kPerLane];
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) {
    h[i] = state[lane + i * kLanes];
    A[i] = a.a_per_state ? a.A[head * kStates + lane + i * kLanes] : a.A[head];
  }
  const float dt_bias = a.dt_bias != nullptr ? a.dt_bias[head] : 0.0f;
  const float D = a.D[head];

  // Tokens go in chunks: a chunk's inputs are all loaded first (independent loads, so their
  // latencies overlap), then the recurrence runs through them. Token by token, every step would
  // wait a full memory round trip.
  const int64_t begin = step.seq_begin[s], end = begin + step.seq_length[s];
  for (int64_t chunk = begin; chunk < end; chunk += kChunk) {
    float x[kChunk], delta[kChunk], gate[kChunk], B[kChunk][kPerLane], C[kChunk][kPerLane];
#pragma unroll
    for (int c = 0; c < kChunk; ++c) {
      const int64_t t = min(chunk + c, end - 1);  // past the end: reloads the last token, unused
      x[c] = a.x[t * a.ldx + r];
      delta[c] = a.dt[t * a.lddt + head];
      gate[c] = a.z != nullptr ? a.z[t * a.ldz + r] : 0.0f;
#pragma unroll
      for (int i = 0; i < kPerLane; ++i) {
        B[c][i] = a.B[t * a.ldbc + group * kStates + lane + i * kLanes];
        C[c][i] = a.C[t * a.ldbc + group * kStates + lane + i * kLanes];
      }
    }
#pragma unroll
    for (int c = 0; c < kChunk; ++c) {
      if (chunk + c < end) {  // uniform across the block: one sequence per block
        const float dt = fminf(fmaxf(Softplus(delta[c] + dt_bias), a.dt_min), a.dt_max);
        const float shared_decay = a.a_per_state ? 0.0f : expf(dt * A[0]);
        float dot = 0.0f;
#pragma unroll
        for (int i = 0; i < kPerLane; ++i) {
          const float decay = a.a_per_state ? expf(dt * A[i]) : shared_decay;
          h[i] = h[i] * decay + dt * x[c] * B[c][i];
          dot += C[c][i] * h[i];
        }
#pragma unroll
        for (int offset = kLanes / 2; offset > 0; offset /= 2) {
          dot += __shfl_xor_sync(0xffffffffu, dot, offset, kLanes);
        }
        if (active && lane == 0) {
          float y = dot + D * x[c];
          if (a.z != nullptr) y *= Silu(gate[c]);
          a.y[(chunk + c) * a.ldy + r] = y;
        }
      }
    }
  }
  if (active) {
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) state[lane + i * kLanes] = h[i];
  }
}

template <int kLanes, int kPerLane>
void Launch(const StepLayout& step, const StatePool& pool, int64_t layer, int64_t conv_floats,
            const ScanArgs& args, cudaStream_t stream) {
  constexpr int kRowsPerBlock = kThreads / kLanes;
  const dim3 grid((args.rows + kRowsPerBlock - 1) / kRowsPerBlock, step.num_sequences);
  ScanRows<kLanes, kPerLane><<<grid, kThreads, 0, stream>>>(step, pool, layer, conv_floats, args);
}

}  // namespace

bool SelectiveScanSupports(int d_state) {
  return d_state == 8 || d_state == 16 || d_state == 32 || d_state == 64 || d_state == 128 ||
         d_state == 256;
}

void SelectiveScan(const StepLayout& step, const StatePool& pool, int64_t layer,
                   int64_t conv_floats, const ScanArgs& args, cudaStream_t stream) {
  switch (args.d_state) {
    case 8:
      return Launch<8, 1>(step, pool, layer, conv_floats, args, stream);
    case 16:
      return Launch<16, 1>(step, pool, layer, conv_floats, args, stream);
    case 32:
      return Launch<32, 1>(step, pool, layer, conv_floats, args, stream);
    case 64:
      return Launch<32, 2>(step, pool, layer, conv_floats, args, stream);
    case 128:
      return Launch<32, 4>(step, pool, layer, conv_floats, args, stream);
    case 256:
      return Launch<32, 8>(step, pool, layer, conv_floats, args, stream);
  }
}

}  // namespace ssm::kernels::cuda
