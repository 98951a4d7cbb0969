#ifndef SSM_KERNELS_CUDA_STEP_LAYOUT_H_
#define SSM_KERNELS_CUDA_STEP_LAYOUT_H_

#include <cuda_runtime.h>

#include <cstdint>

namespace ssm::kernels::cuda {

// Where the tokens of one forward step come from, in device memory. A step's activations are
// token-major rows: sequence s owns rows [seq_begin[s], seq_begin[s] + seq_length[s]) and
// continues the state in slot seq_slot[s]; token_seq[t] names the sequence of row t.
struct StepLayout {
  int num_tokens = 0;
  int num_sequences = 0;
  const int32_t* token_seq = nullptr;   // [num_tokens]
  const int32_t* seq_begin = nullptr;   // [num_sequences]
  const int32_t* seq_length = nullptr;  // [num_sequences]
  const int32_t* seq_slot = nullptr;    // [num_sequences]
  int max_seq_length = 0;               // the longest sequence's token count (known on the host)
  int single_token_sequences = 0;       // how many have one token (known on the host; 0 if unknown)
};

// A slot's state, per layer: the conv window [(d_conv - 1) x channels] (oldest input first),
// then the SSM state; layer l of slot s starts at base + s * slot_floats + l * layer_floats.
struct StatePool {
  float* base = nullptr;
  int64_t slot_floats = 0;
  int64_t layer_floats = 0;

  __host__ __device__ float* Layer(int32_t slot, int64_t layer) const {
    return base + slot * slot_floats + layer * layer_floats;
  }
};

}  // namespace ssm::kernels::cuda

#endif  // SSM_KERNELS_CUDA_STEP_LAYOUT_H_
