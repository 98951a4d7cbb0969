#ifndef SSM_ENGINE_CPU_BACKEND_H_
#define SSM_ENGINE_CPU_BACKEND_H_

#include <memory>
#include <vector>

#include "engine/backend.h"
#include "engine/model.h"
#include "kernels/cpu/sequence_slice.h"

namespace ssm {

// The reference backend: fp32 math on the host, matmuls through BLAS over all tokens of a step
// at once (so a batch of decodes reads each weight once), conv and scan per sequence in
// parallel with OpenMP. Weights are widened to fp32 once at construction.
class CpuBackend : public Backend {
 public:
  CpuBackend(const Model& model, int num_slots);

  int num_slots() const override { return num_slots_; }
  int64_t vocab_size() const override { return config_.vocab_size; }
  int64_t slot_size() const override { return slot_size_; }
  void ClearSlot(int slot) override;
  void CopySlot(int from, int to) override;
  std::vector<float> ReadSlot(int slot) const override;
  absl::Status WriteSlot(int slot, std::span<const float> state) override;

 protected:
  absl::Status StepLogits(std::span<const SequenceInput> batch, std::span<float> logits) override;
  // StepLogits into a buffer kept across steps, then the argmax of each row.
  absl::Status StepGreedy(std::span<const SequenceInput> batch, std::span<int32_t> next) override;

 private:
  struct Layer {
    const float* norm;
    const float* in_proj;
    const float* in_proj_bias;
    const float* conv;
    const float* conv_bias;
    const float* x_proj;
    const float* dt_proj;
    const float* dt_proj_bias;
    const float* dt_bias;
    const float* A;  // -exp(A_log)
    const float* D;
    const float* gated_norm;
    const float* out_proj;
    const float* out_proj_bias;
  };

  const float* Widen(const TensorView* tensor);
  const float* NegExp(const TensorView* A_log);
  float* SlotLayer(int slot, int64_t layer) {
    return &state_[slot * slot_size_ + layer * layer_size_];
  }
  void Mamba1Mixer(const Layer& layer, std::span<const kernels::cpu::SequenceSlice> seqs,
                   int64_t tokens);
  void Mamba2Mixer(const Layer& layer, std::span<const kernels::cpu::SequenceSlice> seqs,
                   int64_t tokens);

  ModelConfig config_;
  int num_slots_;
  int64_t layer_size_;
  int64_t slot_size_;
  std::vector<float> state_;
  std::vector<std::vector<float>> widened_;  // fp32 copies of weights that were not fp32
  const float* embedding_;
  const float* norm_f_;
  const float* lm_head_;
  std::vector<Layer> layers_;

  // Activations of one step, token-major; reused across steps.
  std::vector<float> hidden_, normed_, projected_, conv_out_, x_dbl_, dt_, y_, last_;
  std::vector<float> greedy_logits_;
};

}  // namespace ssm

#endif  // SSM_ENGINE_CPU_BACKEND_H_
