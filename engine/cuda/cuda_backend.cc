#include "engine/cuda/cuda_backend.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "engine/dtype.h"
#include "kernels/cuda/argmax.h"
#include "kernels/cuda/causal_conv1d.h"
#include "kernels/cuda/convert.h"
#include "kernels/cuda/embedding.h"
#include "kernels/cuda/gemv.h"
#include "kernels/cuda/rms_norm.h"
#include "kernels/cuda/selective_scan.h"
#include "kernels/cuda/speed_switch.h"
#include "kernels/cuda/token_draw.h"

namespace ssm {

using kernels::cuda::ElementType;
using kernels::cuda::GemmInput;
using kernels::cuda::Matrix;
using kernels::cuda::StepLayout;

namespace {

absl::Status CudaStatus(cudaError_t error, const char* what) {
  if (error == cudaSuccess) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(what, ": ", cudaGetErrorString(error)));
}

// For the slot operations, whose interface cannot report failure: a CUDA error there means the
// device is lost, and continuing would serve wrong states.
void CheckCuda(cudaError_t error, const char* what) {
  if (error == cudaSuccess) return;
  std::fprintf(stderr, "fatal CUDA error in %s: %s\n", what, cudaGetErrorString(error));
  std::abort();
}

ElementType ToElementType(DType dtype) {
  switch (dtype) {
    case DType::kF16:
      return ElementType::kF16;
    case DType::kBF16:
      return ElementType::kBF16;
    case DType::kF32:
      break;
  }
  return ElementType::kF32;
}

std::vector<float> Widened(const TensorView& tensor) {
  std::vector<float> values(tensor.NumElements());
  ConvertToFloat(tensor.dtype, tensor.bytes.data(), values.size(), values.data());
  return values;
}

// A device copy of host bytes, complete when this returns. The copy goes through `stream`
// and waits for it: a plain cudaMemcpy from pageable memory may return before its DMA has
// landed, and runs on the legacy stream, which our non-blocking streams do not wait for, so a
// kernel reading the copy next (narrowing a weight on `stream`) could see stale bytes.
absl::StatusOr<DeviceBuffer> Upload(const void* data, size_t bytes, cudaStream_t stream) {
  absl::StatusOr<DeviceBuffer> buffer = DeviceBuffer::Allocate(bytes);
  if (!buffer.ok()) return buffer.status();
  if (absl::Status s =
          CudaStatus(cudaMemcpyAsync(buffer->get(), data, bytes, cudaMemcpyHostToDevice, stream),
                     "uploading a weight");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CudaStatus(cudaStreamSynchronize(stream), "uploading a weight"); !s.ok()) {
    return s;
  }
  return buffer;
}

// Decode graphs are captured per bucket of batch sizes, so that a server whose batch drifts
// between sizes replays a few dozen graphs captured when the backend was made, instead of
// capturing a new one (milliseconds) whenever a size comes up for the first time: up to 8
// sequences each size is its own bucket, then multiples of 8 up to 256 and of 32 beyond (so at
// most 7 or 31 padding sequences, a few percent of a large step). A step is padded up to its
// bucket with sequences that feed one token into the scratch slot.
int DecodeBucket(int sequences) {
  if (sequences <= 8) return sequences;
  const int step = sequences <= 256 ? 8 : 32;
  return (sequences + step - 1) / step * step;
}

// The token the padding sequences feed (any valid id).
constexpr int32_t kPaddingToken[1] = {0};

// Room for n, grown in powers of two so a slowly growing step size reallocates rarely.
int64_t GrownCapacity(int64_t have, int64_t need) {
  int64_t capacity = std::max<int64_t>(have, 16);
  while (capacity < need) capacity *= 2;
  return capacity;
}

}  // namespace

bool CudaBackend::DeviceAvailable() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

absl::StatusOr<std::unique_ptr<CudaBackend>> CudaBackend::Create(
    const Model& model, int num_slots, const CudaBackendOptions& options) {
  if (!DeviceAvailable()) return absl::FailedPreconditionError("no CUDA device is present");
  if (!kernels::cuda::SelectiveScanSupports(model.config().d_state)) {
    return absl::UnimplementedError(
        absl::StrCat("the CUDA backend does not support d_state ", model.config().d_state));
  }
  if (model.config().d_conv > kernels::cuda::kMaxConvKernel) {
    return absl::UnimplementedError(absl::StrCat("the CUDA backend supports conv kernels up to ",
                                                 kernels::cuda::kMaxConvKernel, ", not ",
                                                 model.config().d_conv));
  }
  std::unique_ptr<CudaBackend> backend(new CudaBackend(model, num_slots, options));
  if (absl::Status status = backend->Init(model); !status.ok()) return status;
  return backend;
}

CudaBackend::CudaBackend(const Model& model, int num_slots, const CudaBackendOptions& options)
    : config_(model.config()), options_(options), num_slots_(num_slots) {}

CudaBackend::~CudaBackend() {
  DropGraphs();
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
  if (slot_stream_ != nullptr) cudaStreamDestroy(slot_stream_);
}

void CudaBackend::DropGraphs() {
  for (const auto& [size, graph] : decode_graphs_) cudaGraphExecDestroy(graph);
  decode_graphs_.clear();
}

absl::Status CudaBackend::Init(const Model& model) {
  if (absl::Status s = CudaStatus(cudaSetDevice(options_.device), "cudaSetDevice"); !s.ok()) {
    return s;
  }
  // Non-blocking streams: no implicit synchronisation with the legacy default stream, which
  // would break a graph capture when another thread touches a slot.
  for (cudaStream_t* stream : {&stream_, &slot_stream_}) {
    if (absl::Status s = CudaStatus(cudaStreamCreateWithFlags(stream, cudaStreamNonBlocking),
                                    "cudaStreamCreate");
        !s.ok()) {
      return s;
    }
  }
  constexpr size_t kGemmWorkspaceBytes = 32 << 20;  // what cuBLAS recommends on Hopper
  absl::StatusOr<DeviceBuffer> workspace = DeviceBuffer::Allocate(kGemmWorkspaceBytes);
  if (!workspace.ok()) return workspace.status();
  gemm_workspace_ = *std::move(workspace);
  if (gemm_.Init(stream_, gemm_workspace_.get(), gemm_workspace_.bytes()) !=
      CUBLAS_STATUS_SUCCESS) {
    return absl::InternalError("cannot initialise cuBLASLt");
  }

  const ModelWeights& w = model.weights();
  absl::StatusOr<Matrix> embedding = UploadMatrix(w.embedding);
  if (!embedding.ok()) return embedding.status();
  embedding_ = *embedding;
  if (w.lm_head == w.embedding) {
    lm_head_ = embedding_;
  } else {
    absl::StatusOr<Matrix> lm_head = UploadMatrix(w.lm_head);
    if (!lm_head.ok()) return lm_head.status();
    lm_head_ = *lm_head;
  }
  absl::StatusOr<const float*> norm_f = UploadVector(w.norm_f);
  if (!norm_f.ok()) return norm_f.status();
  norm_f_ = *norm_f;

  // Collects the first failure of a sequence of uploads.
  absl::Status status;
  auto vector = [&](const TensorView* t, bool negative_exp = false) -> const float* {
    absl::StatusOr<const float*> v = UploadVector(t, negative_exp);
    if (!v.ok() && status.ok()) status = v.status();
    return v.value_or(nullptr);
  };
  auto matrix = [&](const TensorView* t, const TensorView* column_scale = nullptr) -> Matrix {
    absl::StatusOr<Matrix> m = UploadMatrix(t, column_scale);
    if (!m.ok() && status.ok()) status = m.status();
    return m.value_or(Matrix{});
  };
  for (const LayerWeights& l : w.layers) {
    layers_.push_back(Layer{
        .in_proj = matrix(l.in_proj, /*column_scale=*/l.norm),
        .in_proj_bias = vector(l.in_proj_bias),
        .conv = vector(l.conv),
        .conv_bias = vector(l.conv_bias),
        .x_proj = matrix(l.x_proj),
        .dt_proj = matrix(l.dt_proj),
        .dt_bias = vector(l.dt_proj_bias != nullptr ? l.dt_proj_bias : l.dt_bias),
        .A = vector(l.A_log, /*negative_exp=*/true),
        .D = vector(l.D),
        .out_proj = matrix(l.out_proj, /*column_scale=*/l.gated_norm),
        .out_proj_bias = vector(l.out_proj_bias),
    });
  }
  if (!status.ok()) return status;

  conv_floats_ = config_.conv_state_size();
  ssm_elements_ = config_.ssm_state_size();
  const int64_t layer_floats =
      conv_floats_ + (options_.bf16_state ? (ssm_elements_ + 1) / 2 : ssm_elements_);
  pool_.layer_floats = layer_floats;
  pool_.slot_floats = layer_floats * config_.n_layer;
  absl::StatusOr<DeviceBuffer> state =
      DeviceBuffer::Allocate(pool_.slot_floats * (num_slots_ + 1) * sizeof(float));
  if (!state.ok()) return state.status();
  state_ = *std::move(state);
  pool_.base = state_.get<float>();
  if (absl::Status s = CudaStatus(cudaMemset(pool_.base, 0, state_.bytes()), "clearing the pool");
      !s.ok()) {
    return s;
  }
  return CaptureDecodeGraphs();
}

absl::Status CudaBackend::CaptureDecodeGraphs() {
  const int largest = DecodeBucket(num_slots_);
  if (absl::Status s = EnsureCapacity(largest, largest); !s.ok()) return s;
  // Room for the penalties of typical sampled steps, so that they keep these graphs.
  constexpr int64_t kExtrasInts = 1 << 16;
  if (absl::Status s = EnsureExtrasCapacity(kExtrasInts); !s.ok()) return s;
  for (int bucket = 1; bucket <= largest; bucket = DecodeBucket(bucket + 1)) {
    const std::vector<SequenceInput> padding(
        bucket, SequenceInput{.slot = scratch_slot(), .tokens = kPaddingToken});
    const DeviceStep step = PackStep(padding);
    // Steps that return logits serve only logprobs requests: their graphs wait for first use.
    for (Output output : {Output::kGreedyIds, Output::kDrawnIds}) {
      if (absl::StatusOr<cudaGraphExec_t> graph = DecodeGraph(step, output); !graph.ok()) {
        return graph.status();
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<const float*> CudaBackend::UploadVector(const TensorView* tensor,
                                                       bool negative_exp) {
  if (tensor == nullptr) return nullptr;
  std::vector<float> values = Widened(*tensor);
  if (negative_exp) {
    for (float& v : values) v = -std::exp(v);
  }
  absl::StatusOr<DeviceBuffer> buffer =
      Upload(values.data(), values.size() * sizeof(float), stream_);
  if (!buffer.ok()) return buffer.status();
  return weights_.emplace_back(*std::move(buffer)).get<const float>();
}

absl::StatusOr<Matrix> CudaBackend::UploadMatrix(const TensorView* tensor,
                                                 const TensorView* column_scale) {
  if (tensor == nullptr) return Matrix{};
  const int64_t rows = tensor->shape.front(), cols = tensor->NumElements() / rows;
  const ElementType type =
      options_.bf16_matrices ? ElementType::kBF16 : ToElementType(tensor->dtype);
  absl::StatusOr<DeviceBuffer> buffer;
  if (column_scale == nullptr && type == ToElementType(tensor->dtype)) {
    buffer = Upload(tensor->bytes.data(), tensor->bytes.size(), stream_);
  } else {  // widen (and scale) on the host, round to the stored type on the device
    std::vector<float> values = Widened(*tensor);
    if (column_scale != nullptr) {
      const std::vector<float> scale = Widened(*column_scale);
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t c = 0; c < cols; ++c) values[r * cols + c] *= scale[c];
      }
    }
    absl::StatusOr<DeviceBuffer> staging =
        Upload(values.data(), values.size() * sizeof(float), stream_);
    if (!staging.ok()) return staging.status();
    buffer = DeviceBuffer::Allocate(rows * cols * kernels::cuda::ElementBytes(type));
    if (!buffer.ok()) return buffer.status();
    kernels::cuda::Narrow(staging->get<float>(), rows, cols, cols, buffer->get(), type, stream_);
    if (absl::Status s = CudaStatus(cudaStreamSynchronize(stream_), "storing a weight"); !s.ok()) {
      return s;
    }
  }
  if (!buffer.ok()) return buffer.status();
  return Matrix{.data = weights_.emplace_back(*std::move(buffer)).get(),
                .type = type,
                .rows = rows,
                .cols = cols};
}

absl::Status CudaBackend::EnsureCapacity(int64_t tokens, int64_t sequences) {
  if (tokens <= token_capacity_ && sequences <= sequence_capacity_) return absl::OkStatus();
  const int64_t T = GrownCapacity(token_capacity_, tokens);
  const int64_t S = GrownCapacity(sequence_capacity_, sequences);
  const int64_t H = config_.d_model, I = config_.d_inner;
  const int64_t x_dbl =
      config_.architecture == Architecture::kMamba1 ? config_.dt_rank + 2 * config_.d_state : 0;
  // The widest GEMM input is d_inner (x_proj, out_proj) or d_model (in_proj, lm_head).
  const int64_t scratch_floats = std::max(T, S) * std::max(H, I);
  const int64_t layout_ints = 2 * T + 4 * S;
  DropGraphs();  // they hold the addresses of the buffers about to be replaced
  struct Need {
    DeviceBuffer* buffer;
    int64_t bytes;
    DeviceBuffer::Kind kind = DeviceBuffer::Kind::kDevice;
  };
  const Need needs[] = {
      {&layout_host_, layout_ints * 4, DeviceBuffer::Kind::kPinnedHost},
      {&layout_device_, layout_ints * 4},
      {&hidden_, T * H * 4},
      {&normed_, T * H * 4},
      {&projected_, T * config_.in_proj_size() * 4},
      {&conv_out_, T * config_.conv_channels() * 4},
      {&x_dbl_, T * x_dbl * 4},
      {&dt_, T * I * 4},
      {&y_, T * I * 4},
      {&last_, S * H * 4},
      {&logits_, S * config_.vocab_size * 4},
      {&logits_host_, S * config_.vocab_size * 4, DeviceBuffer::Kind::kPinnedHost},
      {&ids_device_, S * 4},
      {&ids_host_, S * 4, DeviceBuffer::Kind::kPinnedHost},
      {&draws_device_, S * static_cast<int64_t>(sizeof(kernels::cuda::DrawParams))},
      {&draws_host_, S * static_cast<int64_t>(sizeof(kernels::cuda::DrawParams)),
       DeviceBuffer::Kind::kPinnedHost},
      {&scratch_, scratch_floats * 2},
      {&narrowed_, scratch_floats * 2},
      {&scan_workspace_, ScanWorkspaceFloats(T) * 4},
  };
  for (const Need& need : needs) {
    absl::StatusOr<DeviceBuffer> buffer = DeviceBuffer::Allocate(need.bytes, need.kind);
    if (!buffer.ok()) return buffer.status();
    *need.buffer = *std::move(buffer);
  }
  token_capacity_ = T;
  sequence_capacity_ = S;
  return absl::OkStatus();
}

// The layout buffer holds [tokens | token_seq | seq_begin | seq_length | seq_slot | last_rows];
// for a decode step of n sequences the offsets depend on n alone, which is what lets a graph
// captured for n serve every later step of n.
CudaBackend::DeviceStep CudaBackend::PackStep(std::span<const SequenceInput> batch) {
  int32_t* host = layout_host_.get<int32_t>();
  const int num_sequences = batch.size();
  int num_tokens = 0;
  for (const SequenceInput& seq : batch) num_tokens += seq.tokens.size();
  int32_t* tokens = host;
  int32_t* token_seq = tokens + num_tokens;
  int32_t* seq_begin = token_seq + num_tokens;
  int32_t* seq_length = seq_begin + num_sequences;
  int32_t* seq_slot = seq_length + num_sequences;
  int32_t* last_rows = seq_slot + num_sequences;
  int row = 0, max_seq_length = 0, single_token_sequences = 0;
  for (int s = 0; s < num_sequences; ++s) {
    max_seq_length = std::max<int>(max_seq_length, batch[s].tokens.size());
    single_token_sequences += batch[s].tokens.size() == 1;
    seq_begin[s] = row;
    seq_length[s] = batch[s].tokens.size();
    seq_slot[s] = batch[s].slot;
    for (int32_t token : batch[s].tokens) {
      tokens[row] = token;
      token_seq[row++] = s;
    }
    last_rows[s] = row - 1;
  }
  const int32_t* device = layout_device_.get<const int32_t>();
  return DeviceStep{.layout = {.num_tokens = num_tokens,
                               .num_sequences = num_sequences,
                               .token_seq = device + (token_seq - host),
                               .seq_begin = device + (seq_begin - host),
                               .seq_length = device + (seq_length - host),
                               .seq_slot = device + (seq_slot - host),
                               .max_seq_length = max_seq_length,
                               .single_token_sequences = single_token_sequences},
                    .tokens = device,
                    .last_rows = device + (last_rows - host)};
}

void CudaBackend::Linear(const GemmInput& x, int64_t rows, const Matrix& w, const float* bias,
                         float* out, int64_t ldo, bool accumulate) {
  const cublasStatus_t status =
      gemm_.Linear(x, rows, w, bias, out, ldo, accumulate, scratch_.get());
  if (gemm_status_ == CUBLAS_STATUS_SUCCESS) gemm_status_ = status;
}

absl::Status CudaBackend::StepLogits(std::span<const SequenceInput> batch,
                                     std::span<float> logits) {
  if (absl::Status status = RunStep(batch, Output::kLogits); !status.ok()) return status;
  std::memcpy(logits.data(), logits_host_.get(), batch.size() * config_.vocab_size * sizeof(float));
  return absl::OkStatus();
}

absl::Status CudaBackend::StepGreedy(std::span<const SequenceInput> batch,
                                     std::span<int32_t> next) {
  if (absl::Status status = RunStep(batch, Output::kGreedyIds); !status.ok()) return status;
  std::memcpy(next.data(), ids_host_.get(), batch.size() * sizeof(int32_t));
  return absl::OkStatus();
}

absl::Status CudaBackend::StepSampled(std::span<const SequenceInput> batch,
                                      std::span<const TokenDraw> draws, std::span<int32_t> next) {
  if (absl::Status status = RunStep(batch, Output::kDrawnIds, draws); !status.ok()) return status;
  std::memcpy(next.data(), ids_host_.get(), batch.size() * sizeof(int32_t));
  return absl::OkStatus();
}

absl::Status CudaBackend::RunStep(std::span<const SequenceInput> batch, Output output,
                                  std::span<const TokenDraw> draws) {
  int64_t tokens = 0;
  for (const SequenceInput& seq : batch) tokens += seq.tokens.size();
  const bool decode = tokens == static_cast<int64_t>(batch.size());
  if (decode) {  // padded up to its bucket; the padding's outputs are left unread
    padded_.assign(batch.begin(), batch.end());
    padded_.resize(DecodeBucket(batch.size()),
                   SequenceInput{.slot = scratch_slot(), .tokens = kPaddingToken});
    batch = padded_;
    tokens = batch.size();
  }
  if (absl::Status status = EnsureCapacity(tokens, batch.size()); !status.ok()) return status;
  const DeviceStep step = PackStep(batch);
  if (output == Output::kDrawnIds) {
    if (absl::Status s = StageDraws(draws, batch.size()); !s.ok()) return s;
  }
  gemm_status_ = CUBLAS_STATUS_SUCCESS;
  if (decode) {
    absl::StatusOr<cudaGraphExec_t> graph = DecodeGraph(step, output);
    if (!graph.ok()) return graph.status();
    if (absl::Status s = CudaStatus(cudaGraphLaunch(*graph, stream_), "launching a decode graph");
        !s.ok()) {
      return s;
    }
  } else {
    EnqueueStep(step, output);
  }
  if (absl::Status s = CudaStatus(cudaStreamSynchronize(stream_), "forward step"); !s.ok()) {
    return s;
  }
  if (absl::Status s = CudaStatus(cudaGetLastError(), "launching a kernel"); !s.ok()) return s;
  if (gemm_status_ != CUBLAS_STATUS_SUCCESS) {
    return absl::InternalError(
        absl::StrCat("cuBLASLt product failed: ", cublasLtGetStatusString(gemm_status_)));
  }
  return absl::OkStatus();
}

absl::StatusOr<cudaGraphExec_t> CudaBackend::DecodeGraph(const DeviceStep& step, Output output) {
  const std::pair<int, Output> key{step.layout.num_sequences, output};
  if (auto it = decode_graphs_.find(key); it != decode_graphs_.end()) return it->second;
  cudaGraph_t graph = nullptr;
  if (absl::Status s = CudaStatus(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal),
                                  "starting a graph capture");
      !s.ok()) {
    return s;
  }
  EnqueueStep(step, output);
  if (absl::Status s = CudaStatus(cudaStreamEndCapture(stream_, &graph), "capturing a graph");
      !s.ok()) {
    return s;
  }
  cudaGraphExec_t exec = nullptr;
  const cudaError_t instantiated = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);
  if (absl::Status s = CudaStatus(instantiated, "instantiating a graph"); !s.ok()) return s;
  if (gemm_status_ != CUBLAS_STATUS_SUCCESS) {
    cudaGraphExecDestroy(exec);
    return absl::InternalError(
        absl::StrCat("cuBLASLt product failed: ", cublasLtGetStatusString(gemm_status_)));
  }
  decode_graphs_[key] = exec;
  return exec;
}

void CudaBackend::EnqueueStep(const DeviceStep& step, Output output) {
  const int64_t tokens = step.layout.num_tokens, S = step.layout.num_sequences;
  const int64_t H = config_.d_model;
  cudaMemcpyAsync(layout_device_.get(), layout_host_.get(), (2 * tokens + 4 * S) * sizeof(int32_t),
                  cudaMemcpyHostToDevice, stream_);
  float* hidden = hidden_.get<float>();
  kernels::cuda::EmbeddingLookup(step.tokens, tokens, embedding_.data, embedding_.type, H, hidden,
                                 stream_);
  const bool decode = step.layout.num_tokens == step.layout.num_sequences;
  for (int64_t l = 0; l < config_.n_layer; ++l) {
    const Layer& layer = layers_[l];
    // The block's RMSNorm weight is in in_proj; in a decode step of 1-2 sequences the conv may
    // ride along with in_proj's Gemv.
    const MixerConv conv = ConvOf(tokens);
    const int64_t P = config_.in_proj_size();
    float* projected = projected_.get<float>();
    kernels::cuda::GemvConv fused_conv;
    if (decode && FuseDecodeKernels() && config_.d_conv == kernels::cuda::kGemvConvKernel) {
      fused_conv = {.weight = layer.conv,
                    .bias = layer.conv_bias,
                    .first_row = conv.first_row,
                    .channels = conv.channels,
                    .step = step.layout,
                    .pool = pool_,
                    .layer = l,
                    .out = conv.out};
    }
    if (!NormalizedLinear(hidden, H, tokens, /*groups=*/1, layer.in_proj, layer.in_proj_bias,
                          projected, P, /*accumulate=*/false, normed_.get(), fused_conv)) {
      kernels::cuda::CausalConv1dSilu(step.layout, pool_, l, projected + conv.first_row, P,
                                      conv.channels, config_.d_conv, layer.conv, layer.conv_bias,
                                      conv.out, stream_);
    }
    // out_proj accumulates onto the residual stream.
    if (config_.architecture == Architecture::kMamba1) {
      Linear(Mamba1Mixer(layer, l, step.layout), tokens, layer.out_proj, layer.out_proj_bias,
             hidden, H, /*accumulate=*/true);
    } else {
      const int64_t I = config_.d_inner;
      float* y = Mamba2Mixer(layer, l, step.layout);
      NormalizedLinear(y, I, tokens, config_.n_groups, layer.out_proj, layer.out_proj_bias, hidden,
                       H, /*accumulate=*/true, /*normed=*/y);
    }
  }
  // Only each sequence's last token needs the final norm and the vocabulary projection.
  const GemmInput last = GemmInputFor(lm_head_, S, last_.get(), H);
  kernels::cuda::RmsNorm(hidden, step.last_rows, S, H, norm_f_, config_.norm_eps, last.data,
                         last.type, stream_);
  Linear(last, S, lm_head_, nullptr, logits_.get<float>(), config_.vocab_size,
         /*accumulate=*/false);
  switch (output) {
    case Output::kLogits:
      cudaMemcpyAsync(logits_host_.get(), logits_.get(), S * config_.vocab_size * sizeof(float),
                      cudaMemcpyDeviceToHost, stream_);
      return;
    case Output::kGreedyIds:
      kernels::cuda::ArgMaxRows(logits_.get<float>(), S, config_.vocab_size,
                                ids_device_.get<int32_t>(), stream_);
      break;
    case Output::kDrawnIds:
      cudaMemcpyAsync(draws_device_.get(), draws_host_.get(), S * sizeof(kernels::cuda::DrawParams),
                      cudaMemcpyHostToDevice, stream_);
      kernels::cuda::DrawTokens(logits_.get<float>(), config_.vocab_size, S, config_.vocab_size,
                                draws_device_.get<kernels::cuda::DrawParams>(),
                                extras_device_.get<int32_t>(), ids_device_.get<int32_t>(), stream_);
      break;
  }
  cudaMemcpyAsync(ids_host_.get(), ids_device_.get(), S * sizeof(int32_t), cudaMemcpyDeviceToHost,
                  stream_);
}

bool CudaBackend::NormalizedLinear(const float* x, int64_t ld, int64_t tokens, int64_t groups,
                                   const Matrix& w, const float* bias, float* out, int64_t ldo,
                                   bool accumulate, void* normed,
                                   const kernels::cuda::GemvConv& conv) {
  if (groups == 1 && kernels::cuda::GemvSupports(w, x, ld, tokens)) {
    kernels::cuda::Gemv(x, ld, tokens, w, bias, out, ldo, accumulate,
                        {.enabled = true, .eps = config_.norm_eps}, stream_, conv);
    return conv.weight != nullptr;
  }
  const GemmInput rows = GemmInputFor(w, tokens, normed, w.cols);
  kernels::cuda::RmsNormGroups(x, ld, tokens, w.cols, w.cols / groups, config_.norm_eps, rows.data,
                               rows.type, rows.ld, stream_);
  Linear(rows, tokens, w, bias, out, ldo, accumulate);
  return false;
}

CudaBackend::MixerConv CudaBackend::ConvOf(int64_t tokens) {
  float* conv_out = conv_out_.get<float>();
  if (config_.architecture == Architecture::kMamba1) {
    // in_proj rows are [x | z]; the conv output feeds the scan (fp32) and x_proj (in x_proj's
    // input type, a second copy, when that is not fp32). x_proj is the same in every layer.
    const int64_t I = config_.d_inner;
    const GemmInput x_proj_input = GemmInputFor(layers_.front().x_proj, tokens, conv_out, I);
    const bool copy = x_proj_input.type != ElementType::kF32;
    return {.first_row = 0,
            .channels = I,
            .out = {.data = conv_out,
                    .ld = I,
                    .copy = copy ? x_proj_input.data : nullptr,
                    .copy_type = x_proj_input.type}};
  }
  // in_proj rows are [z | xBC | dt].
  const int64_t C = config_.conv_channels();
  return {.first_row = config_.d_inner, .channels = C, .out = {.data = conv_out, .ld = C}};
}

bool CudaBackend::FuseDecodeKernels() {
  static const bool fuse = kernels::cuda::SpeedSwitchOn("SSM_CUDA_FUSED_DECODE");
  return fuse;
}

bool CudaBackend::Bf16ChunkProducts() {
  static const bool tensor_cores = kernels::cuda::SpeedSwitchOn("SSM_CUDA_SSD_TENSOR_CORES");
  return tensor_cores;
}

GemmInput CudaBackend::GemmInputFor(const Matrix& w, int64_t tokens, void* fp32_rows, int64_t ld) {
  const ElementType type = kernels::cuda::GemmInputType(w, tokens);
  return {.data = type == ElementType::kF32 ? fp32_rows : narrowed_.get(), .type = type, .ld = ld};
}

// After the conv (ConvOf): x_proj gives [dt_low | B | C], dt_proj lifts dt_low to d_inner (its
// bias is added in the scan), and the scan produces the gated output. In a decode step of few
// sequences (with fused decode kernels) the scan lifts dt_low itself.
GemmInput CudaBackend::Mamba1Mixer(const Layer& layer, int64_t index, const StepLayout& step) {
  const int64_t I = config_.d_inner, N = config_.d_state, R = config_.dt_rank;
  const int64_t P = config_.in_proj_size(), X = R + 2 * N, T = step.num_tokens;
  float* projected = projected_.get<float>();
  float* conv_out = conv_out_.get<float>();
  float* x_dbl = x_dbl_.get<float>();
  const GemmInput conv_for_x_proj = GemmInputFor(layer.x_proj, T, conv_out, I);
  Linear(conv_for_x_proj, T, layer.x_proj, nullptr, x_dbl, X, /*accumulate=*/false);
  const GemmInput y = GemmInputFor(layer.out_proj, T, y_.get(), I);
  kernels::cuda::ScanArgs scan{.rows = I,
                               .head_dim = 1,
                               .heads_per_group = I,
                               .d_state = static_cast<int>(N),
                               .x = conv_out,
                               .ldx = I,
                               .dt = x_dbl,
                               .lddt = X,
                               .dt_proj = layer.dt_proj.data,
                               .dt_proj_type = layer.dt_proj.type,
                               .dt_rank = static_cast<int>(R),
                               .dt_bias = layer.dt_bias,
                               .dt_min = 0.0f,
                               .dt_max = std::numeric_limits<float>::infinity(),
                               .B = x_dbl + R,
                               .C = x_dbl + R + N,
                               .ldbc = X,
                               .A = layer.A,
                               .a_per_state = true,
                               .D = layer.D,
                               .z = projected + I,
                               .ldz = P,
                               .y = y.data,
                               .ldy = I,
                               .y_type = y.type,
                               .state_type = StateType(),
                               .workspace = scan_workspace_.get<float>(),
                               .workspace_floats = ScanWorkspaceFloats(token_capacity_)};
  const bool decode = T == step.num_sequences;
  if (!decode || !FuseDecodeKernels() ||
      !kernels::cuda::ScanTakesLowRankStepSize(scan, step.num_sequences)) {
    Linear({.data = x_dbl, .ld = X}, T, layer.dt_proj, nullptr, dt_.get<float>(), I,
           /*accumulate=*/false);
    scan.dt = dt_.get<float>();
    scan.lddt = I;
    scan.dt_proj = nullptr;
  }
  kernels::cuda::SelectiveScan(step, pool_, index, config_.conv_state_size(), scan, stream_);
  return y;
}

// After the conv (ConvOf), xBC splits into x, B and C; the scan runs per head and applies the
// gate silu(z) to its outputs, so the gated RMSNorm that follows is a plain one per group, its
// weight folded into out_proj's columns (NormalizedLinear).
float* CudaBackend::Mamba2Mixer(const Layer& layer, int64_t index, const StepLayout& step) {
  const int64_t I = config_.d_inner, G = config_.n_groups, N = config_.d_state;
  const int64_t P = config_.in_proj_size(), Cch = config_.conv_channels();
  float* projected = projected_.get<float>();
  float* conv_out = conv_out_.get<float>();
  float* y = y_.get<float>();
  kernels::cuda::SelectiveScan(
      step, pool_, index, config_.conv_state_size(),
      {.rows = I,
       .head_dim = config_.head_dim,
       .heads_per_group = config_.n_heads / G,
       .d_state = static_cast<int>(N),
       .x = conv_out,
       .ldx = Cch,
       .dt = projected + I + Cch,
       .lddt = P,
       .dt_bias = layer.dt_bias,
       .dt_min = config_.dt_min,
       .dt_max = config_.dt_max,
       .B = conv_out + I,
       .C = conv_out + I + G * N,
       .ldbc = Cch,
       .A = layer.A,
       .a_per_state = false,
       .D = layer.D,
       .z = projected,
       .ldz = P,
       .y = y,
       .ldy = I,
       .state_type = StateType(),
       .bf16_chunk_products = layer.in_proj.type != ElementType::kF32 && Bf16ChunkProducts(),
       .workspace = scan_workspace_.get<float>(),
       .workspace_floats = ScanWorkspaceFloats(token_capacity_)},
      stream_);
  return y;
}

absl::Status CudaBackend::EnsureExtrasCapacity(int64_t ints) {
  const int64_t bytes = ints * sizeof(int32_t);
  if (bytes <= static_cast<int64_t>(extras_host_.bytes()) && extras_host_.bytes() > 0) {
    return absl::OkStatus();
  }
  DropGraphs();  // they hold the old device buffer's address
  const int64_t grown = GrownCapacity(extras_host_.bytes(), bytes);
  for (auto [buffer, kind] : {std::pair{&extras_host_, DeviceBuffer::Kind::kPinnedHost},
                              std::pair{&extras_device_, DeviceBuffer::Kind::kDevice}}) {
    absl::StatusOr<DeviceBuffer> allocated = DeviceBuffer::Allocate(grown, kind);
    if (!allocated.ok()) return allocated.status();
    *buffer = *std::move(allocated);
  }
  return absl::OkStatus();
}

absl::Status CudaBackend::StageDraws(std::span<const TokenDraw> draws, int sequences) {
  int64_t ints = 0;
  for (const TokenDraw& draw : draws) ints += 2 * draw.penalized.size() + draw.banned.size();
  if (absl::Status s = EnsureExtrasCapacity(ints); !s.ok()) return s;
  auto* params = draws_host_.get<kernels::cuda::DrawParams>();
  int32_t* extras = extras_host_.get<int32_t>();
  int32_t used = 0;
  for (int i = 0; i < sequences; ++i) {
    params[i] = {};  // the padding's: the argmax
    if (i >= static_cast<int>(draws.size())) continue;
    const TokenDraw& d = draws[i];
    params[i] = {.temperature = d.temperature,
                 .top_k = d.top_k,
                 .top_p = d.top_p,
                 .min_p = d.min_p,
                 .uniform = d.uniform,
                 .repetition_penalty = d.repetition_penalty,
                 .presence_penalty = d.presence_penalty,
                 .frequency_penalty = d.frequency_penalty,
                 .penalized_begin = used,
                 .penalized_count = static_cast<int32_t>(d.penalized.size())};
    for (const PenalizedToken& token : d.penalized) {
      extras[used++] = token.id;
      extras[used++] = token.generated;
    }
    params[i].banned_begin = used;
    params[i].banned_count = static_cast<int32_t>(d.banned.size());
    for (int32_t id : d.banned) extras[used++] = id;
  }
  if (used == 0) return absl::OkStatus();
  return CudaStatus(cudaMemcpyAsync(extras_device_.get(), extras, used * sizeof(int32_t),
                                    cudaMemcpyHostToDevice, stream_),
                    "copying the draws' penalties");
}

kernels::cuda::ElementType CudaBackend::StateType() const {
  return options_.bf16_state ? ElementType::kBF16 : ElementType::kF32;
}

int64_t CudaBackend::ScanWorkspaceFloats(int64_t tokens) const {
  const bool mamba1 = config_.architecture == Architecture::kMamba1;
  return kernels::cuda::ScanWorkspaceFloats(tokens, config_.d_inner, config_.d_state,
                                            mamba1 ? config_.d_inner : config_.n_heads,
                                            mamba1 ? 1 : config_.n_groups);
}

int64_t CudaBackend::DeviceMemoryInUse() const {
  size_t free = 0, total = 0;
  if (cudaMemGetInfo(&free, &total) != cudaSuccess) return 0;
  return static_cast<int64_t>(total - free);
}

void CudaBackend::ClearSlot(int slot) {
  CheckCuda(
      cudaMemsetAsync(pool_.Layer(slot, 0), 0, pool_.slot_floats * sizeof(float), slot_stream_),
      "ClearSlot");
  CheckCuda(cudaStreamSynchronize(slot_stream_), "ClearSlot");
}

void CudaBackend::CopySlot(int from, int to) {
  CheckCuda(
      cudaMemcpyAsync(pool_.Layer(to, 0), pool_.Layer(from, 0), pool_.slot_floats * sizeof(float),
                      cudaMemcpyDeviceToDevice, slot_stream_),
      "CopySlot");
  CheckCuda(cudaStreamSynchronize(slot_stream_), "CopySlot");
}

// The pool's bytes of a slot and the fp32 format differ only in the SSM state's type: with a
// bf16 state, each layer's state is widened (ReadSlot) or rounded (WriteSlot) on the host.
std::vector<float> CudaBackend::ReadSlot(int slot) const {
  std::vector<float> stored(pool_.slot_floats);
  CheckCuda(cudaMemcpyAsync(stored.data(), pool_.Layer(slot, 0), stored.size() * sizeof(float),
                            cudaMemcpyDeviceToHost, slot_stream_),
            "ReadSlot");
  CheckCuda(cudaStreamSynchronize(slot_stream_), "ReadSlot");
  if (!options_.bf16_state) return stored;
  std::vector<float> state(slot_size());
  for (int64_t l = 0; l < config_.n_layer; ++l) {
    const float* layer = stored.data() + l * pool_.layer_floats;
    float* out = state.data() + l * (conv_floats_ + ssm_elements_);
    std::copy_n(layer, conv_floats_, out);
    ConvertToFloat(DType::kBF16, reinterpret_cast<const std::byte*>(layer + conv_floats_),
                   ssm_elements_, out + conv_floats_);
  }
  return state;
}

absl::Status CudaBackend::WriteSlot(int slot, std::span<const float> state) {
  if (static_cast<int64_t>(state.size()) != slot_size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("state has ", state.size(), " floats; this model's slots hold ", slot_size()));
  }
  std::vector<float> stored;
  if (options_.bf16_state) {
    stored.resize(pool_.slot_floats);
    for (int64_t l = 0; l < config_.n_layer; ++l) {
      const float* in = state.data() + l * (conv_floats_ + ssm_elements_);
      float* layer = stored.data() + l * pool_.layer_floats;
      std::copy_n(in, conv_floats_, layer);
      RoundToBf16(in + conv_floats_, ssm_elements_,
                  reinterpret_cast<uint16_t*>(layer + conv_floats_));
    }
    state = stored;
  }
  if (absl::Status s = CudaStatus(
          cudaMemcpyAsync(pool_.Layer(slot, 0), state.data(), pool_.slot_floats * sizeof(float),
                          cudaMemcpyHostToDevice, slot_stream_),
          "WriteSlot");
      !s.ok()) {
    return s;
  }
  return CudaStatus(cudaStreamSynchronize(slot_stream_), "WriteSlot");
}

}  // namespace ssm
