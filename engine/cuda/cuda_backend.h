#ifndef SSM_ENGINE_CUDA_CUDA_BACKEND_H_
#define SSM_ENGINE_CUDA_CUDA_BACKEND_H_

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "engine/backend.h"
#include "engine/cuda/device_buffer.h"
#include "engine/model.h"
#include "kernels/cuda/causal_conv1d.h"
#include "kernels/cuda/gemv.h"
#include "kernels/cuda/linear.h"
#include "kernels/cuda/step_layout.h"

namespace ssm {

struct CudaBackendOptions {
  int device = 0;
  // Store every weight matrix as bf16 (tensor-core GEMMs, half the bytes of fp32) whatever the
  // checkpoint holds; otherwise matrices keep the checkpoint's f32/f16/bf16.
  bool bf16_matrices = false;
  // Store each slot's SSM state in bf16 (half the bytes a decode step moves and a session
  // holds; the math stays fp32). The conv windows stay fp32, and ReadSlot/WriteSlot still speak
  // the fp32 format, so sessions move between backends either way.
  bool bf16_state = false;
};

// The GPU backend: weights, the state pool and every workspace live in device memory, allocated
// when the backend is made (workspaces grow only when a step is larger than any before). A step
// copies its token ids and layout to the device in one transfer and its logits back in another;
// everything between runs on one stream. A decode step (one token per sequence) is padded to a
// bucket of batch sizes and replays that bucket's CUDA graph (greedy and drawn ids captured when
// the backend is made; logits, for logprobs, and any graph after a workspace grows, which frees
// them, on first use), so the host launches one graph instead of ~15 kernels per layer. State and
// activations are fp32.
//
// Threads: Forward runs on one thread (the engine's); the slot operations may come from others
// for slots that are not in a running step, and use their own stream.
class CudaBackend : public Backend {
 public:
  static absl::StatusOr<std::unique_ptr<CudaBackend>> Create(const Model& model, int num_slots,
                                                             const CudaBackendOptions& options);
  // Whether a CUDA device is present (tests skip without one).
  static bool DeviceAvailable();
  ~CudaBackend() override;

  int64_t DeviceMemoryInUse() const override;
  int num_slots() const override { return num_slots_; }
  int64_t vocab_size() const override { return config_.vocab_size; }
  int64_t slot_size() const override { return config_.n_layer * (conv_floats_ + ssm_elements_); }
  int64_t slot_bytes() const override { return pool_.slot_floats * sizeof(float); }
  void ClearSlot(int slot) override;
  void CopySlot(int from, int to) override;
  std::vector<float> ReadSlot(int slot) const override;
  absl::Status WriteSlot(int slot, std::span<const float> state) override;

 protected:
  absl::Status StepLogits(std::span<const SequenceInput> batch, std::span<float> logits) override;
  // Picks the tokens on the GPU: only batch-size ids cross PCIe.
  absl::Status StepGreedy(std::span<const SequenceInput> batch, std::span<int32_t> next) override;
  // Draws the tokens on the GPU (kernels/cuda/token_draw.h): the draws go in with the step's
  // layout and only ids come back.
  absl::Status StepSampled(std::span<const SequenceInput> batch, std::span<const TokenDraw> draws,
                           std::span<int32_t> next) override;

 private:
  // fp32 vectors and matrices of one block, on the device; null where the model has none.
  struct Layer {
    kernels::cuda::Matrix in_proj;  // with the block's RMSNorm weight folded into its columns
    const float* in_proj_bias = nullptr;
    const float* conv = nullptr;
    const float* conv_bias = nullptr;
    kernels::cuda::Matrix x_proj;    // Mamba-1
    kernels::cuda::Matrix dt_proj;   // Mamba-1
    const float* dt_bias = nullptr;  // Mamba-1: dt_proj's bias; Mamba-2: dt_bias
    const float* A = nullptr;        // -exp(A_log)
    const float* D = nullptr;
    // Mamba-2: with the gated RMSNorm's weight folded into its columns.
    kernels::cuda::Matrix out_proj;
    const float* out_proj_bias = nullptr;
  };

  CudaBackend(const Model& model, int num_slots, const CudaBackendOptions& options);
  absl::Status Init(const Model& model);
  absl::StatusOr<const float*> UploadVector(const TensorView* tensor, bool negative_exp = false);
  // The matrix as the backend stores it (bf16 with bf16_matrices, else the checkpoint's type),
  // its columns multiplied by column_scale when given.
  absl::StatusOr<kernels::cuda::Matrix> UploadMatrix(const TensorView* tensor,
                                                     const TensorView* column_scale = nullptr);
  absl::Status EnsureCapacity(int64_t tokens, int64_t sequences);
  // The selective scan's workspace for steps of up to `tokens` tokens.
  int64_t ScanWorkspaceFloats(int64_t tokens) const;
  // How the pool stores the SSM state.
  kernels::cuda::ElementType StateType() const;
  // Room for this many ints of draw extras (penalized tokens and banned ids).
  absl::Status EnsureExtrasCapacity(int64_t ints);
  // Writes each draw's parameters (the padding past draws.size(): the argmax) and its penalized
  // tokens and banned ids into pinned memory, and queues their copy to the device.
  absl::Status StageDraws(std::span<const TokenDraw> draws, int sequences);
  // A step as the kernels see it, in device memory.
  struct DeviceStep {
    kernels::cuda::StepLayout layout;
    const int32_t* tokens;     // [num_tokens]
    const int32_t* last_rows;  // [num_sequences]: each sequence's last token row
  };
  // Packs the step's ids and layout into pinned host memory; says where they will be on the
  // device once EnqueueStep has copied them.
  DeviceStep PackStep(std::span<const SequenceInput> batch);
  // What a step sends back to the host.
  enum class Output { kLogits, kGreedyIds, kDrawnIds };
  // Runs the step and waits for it; the output is then in logits_host_ or ids_host_. A step of
  // kDrawnIds draws each sequence's token by draws[i].
  absl::Status RunStep(std::span<const SequenceInput> batch, Output output,
                       std::span<const TokenDraw> draws = {});
  // Everything a step does on the stream: copy the layout in, run the model, copy the output
  // to pinned memory. Replayable: this is what a decode graph holds.
  void EnqueueStep(const DeviceStep& step, Output output);
  // The graph of a decode step of this many sequences and this output, captured on first use.
  absl::StatusOr<cudaGraphExec_t> DecodeGraph(const DeviceStep& step, Output output);
  // Captures the graph of every decode bucket up to the pool's size, for the outputs that
  // return ids.
  absl::Status CaptureDecodeGraphs();
  // The slot after the pool's last, where padding sequences run: no session owns it.
  int scratch_slot() const { return num_slots_; }
  void DropGraphs();
  // A GEMM on the step's stream; the first failure of a step is kept in gemm_status_.
  void Linear(const kernels::cuda::GemmInput& x, int64_t rows, const kernels::cuda::Matrix& w,
              const float* bias, float* out, int64_t ldo, bool accumulate);
  // Where a kernel should write the input rows (ld apart) of a product with w: fp32_rows when
  // the product reads fp32, else narrowed_ in w's 16-bit type.
  kernels::cuda::GemmInput GemmInputFor(const kernels::cuda::Matrix& w, int64_t tokens,
                                        void* fp32_rows, int64_t ld);
  // out (=|+=) RMSNorm(x) . w^T (+ bias), the norm taken per group of width / groups columns
  // and its weight folded into w's columns. A few tokens of one group go through Gemv, which
  // normalizes on the fly (and runs `conv` in its epilogue, if given one); otherwise the norm
  // writes w's input type (at `normed`, or in place when that is fp32) and the product follows.
  // Returns whether it ran the conv.
  bool NormalizedLinear(const float* x, int64_t ld, int64_t tokens, int64_t groups,
                        const kernels::cuda::Matrix& w, const float* bias, float* out, int64_t ldo,
                        bool accumulate, void* normed, const kernels::cuda::GemvConv& conv = {});
  // The conv of a layer's mixer: which of in_proj's outputs it reads and where it writes.
  struct MixerConv {
    int64_t first_row, channels;
    kernels::cuda::ConvOutput out;
  };
  MixerConv ConvOf(int64_t tokens);
  // Whether small decode steps run the conv in in_proj's Gemv (1-2 sequences) and Mamba-1's
  // dt_proj in the scan: yes (docs/benchmarks.md measured it), unless SSM_CUDA_FUSED_DECODE=0
  // asks for the separate kernels, which steps of more sequences run anyway.
  static bool FuseDecodeKernels();
  // Whether Mamba-2's chunked scan multiplies on the tensor cores, its factors rounded to bf16,
  // when the model's matrices are 16-bit (ScanArgs::bf16_chunk_products): yes, unless
  // SSM_CUDA_SSD_TENSOR_CORES=0 asks for the fp32 products.
  static bool Bf16ChunkProducts();
  // Each mixer, after the conv, leaves out_proj's input rows and says where they are: Mamba-1's
  // in out_proj's input type; Mamba-2's in fp32 and gated, still to be normalized (its gated
  // norm's weight is in out_proj).
  kernels::cuda::GemmInput Mamba1Mixer(const Layer& layer, int64_t index,
                                       const kernels::cuda::StepLayout& step);
  float* Mamba2Mixer(const Layer& layer, int64_t index, const kernels::cuda::StepLayout& step);

  ModelConfig config_;
  CudaBackendOptions options_;
  int num_slots_;
  cudaStream_t stream_ = nullptr;       // steps
  cudaStream_t slot_stream_ = nullptr;  // slot operations
  kernels::cuda::Gemm gemm_;
  cublasStatus_t gemm_status_ = CUBLAS_STATUS_SUCCESS;  // the first GEMM failure of a step

  std::vector<DeviceBuffer> weights_;
  kernels::cuda::Matrix embedding_, lm_head_;
  const float* norm_f_ = nullptr;
  std::vector<Layer> layers_;

  DeviceBuffer state_;  // num_slots_ slots and the scratch slot
  // Per layer of a slot: conv_floats_ floats of conv window, then ssm_elements_ state values
  // (fp32, or bf16 two to a float's room).
  int64_t conv_floats_ = 0, ssm_elements_ = 0;
  kernels::cuda::StatePool pool_;
  std::vector<SequenceInput> padded_;  // a decode step with its padding

  // Per step: ids and layout (pinned host staging and its device copy), activations (fp32,
  // token-major) and the narrowed GEMM inputs.
  int64_t token_capacity_ = 0, sequence_capacity_ = 0;
  DeviceBuffer layout_host_, layout_device_, logits_host_, ids_host_, ids_device_;
  DeviceBuffer draws_host_, draws_device_;  // kernels::cuda::DrawParams per sequence
  // The draws' penalized tokens and banned ids (int32), grown as steps need; decode graphs hold
  // the device buffer's address, so growing it drops them.
  DeviceBuffer extras_host_, extras_device_;
  DeviceBuffer hidden_, normed_, projected_, conv_out_, x_dbl_, dt_, y_, last_, logits_, scratch_;
  DeviceBuffer narrowed_;        // GEMM inputs written in their matrix's 16-bit type
  DeviceBuffer scan_workspace_;  // the chunked scan's chunk states
  DeviceBuffer gemm_workspace_;  // fixed, so cuBLASLt allocates nothing while a graph is captured
  absl::flat_hash_map<std::pair<int, Output>, cudaGraphExec_t> decode_graphs_;
};

}  // namespace ssm

#endif  // SSM_ENGINE_CUDA_CUDA_BACKEND_H_
