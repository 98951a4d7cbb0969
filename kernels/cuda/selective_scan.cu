#include "kernels/cuda/numeric.cuh"
#include "kernels/cuda/selective_scan.h"

namespace ssm::kernels::cuda {
namespace {

constexpr int kThreads = 256;

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
  for (int i = 0; i < kPerLane; ++i) {
    h[i] = state[lane + i * kLanes];
    A[i] = a.a_per_state ? a.A[head * kStates + lane + i * kLanes] : a.A[head];
  }
  const float dt_bias = a.dt_bias != nullptr ? a.dt_bias[head] : 0.0f;
  const float D = a.D[head];

  const int64_t begin = step.seq_begin[s], end = begin + step.seq_length[s];
  for (int64_t t = begin; t < end; ++t) {
    const float delta =
        fminf(fmaxf(Softplus(a.dt[t * a.lddt + head] + dt_bias), a.dt_min), a.dt_max);
    const float x = a.x[t * a.ldx + r];
    const float* B = a.B + t * a.ldbc + group * kStates;
    const float* C = a.C + t * a.ldbc + group * kStates;
    const float shared_decay = a.a_per_state ? 0.0f : expf(delta * A[0]);
    float dot = 0.0f;
    for (int i = 0; i < kPerLane; ++i) {
      const int n = lane + i * kLanes;
      const float decay = a.a_per_state ? expf(delta * A[i]) : shared_decay;
      h[i] = h[i] * decay + delta * x * B[n];
      dot += C[n] * h[i];
    }
    for (int offset = kLanes / 2; offset > 0; offset /= 2) {
      dot += __shfl_xor_sync(0xffffffffu, dot, offset, kLanes);
    }
    if (active && lane == 0) {
      float y = dot + D * x;
      if (a.z != nullptr) y *= Silu(a.z[t * a.ldz + r]);
      a.y[t * a.ldy + r] = y;
    }
  }
  if (active) {
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
