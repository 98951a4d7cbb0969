// The CUDA kernels one by one, on random inputs: the GEMV and the skinny GEMM against a
// double-precision product on the host, and each decode (one-token) kernel against the general
// token-loop kernel it stands in for. Skips without a GPU.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "engine/cuda/device_buffer.h"
#include "engine/token_draw.h"
#include "gtest/gtest.h"
#include "kernels/cuda/causal_conv1d.h"
#include "kernels/cuda/gemv.h"
#include "kernels/cuda/selective_scan.h"
#include "kernels/cuda/skinny_gemm.h"
#include "kernels/cuda/token_draw.h"

namespace ssm::kernels::cuda {
namespace {

bool HaveGpu() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

template <typename T>
DeviceBuffer ToDevice(const std::vector<T>& host) {
  absl::StatusOr<DeviceBuffer> buffer = DeviceBuffer::Allocate(host.size() * sizeof(T));
  EXPECT_TRUE(buffer.ok()) << buffer.status();
  EXPECT_EQ(cudaMemcpy(buffer->get(), host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice),
            cudaSuccess);
  return *std::move(buffer);
}

template <typename T>
std::vector<T> ToHost(const DeviceBuffer& buffer, size_t count) {
  std::vector<T> host(count);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(host.data(), buffer.get(), count * sizeof(T), cudaMemcpyDeviceToHost),
            cudaSuccess);
  return host;
}

std::vector<float> Random(std::mt19937& rng, size_t count, float low, float high) {
  std::uniform_real_distribution<float> uniform(low, high);
  std::vector<float> values(count);
  for (float& v : values) v = uniform(rng);
  return values;
}

// Matrix values exactly representable in the 16-bit type, so the host reference multiplies the
// very numbers the GPU reads; returns their bit patterns.
std::vector<uint16_t> Representable(std::vector<float>& values, ElementType type) {
  std::vector<uint16_t> bits(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    if (type == ElementType::kBF16) {
      uint32_t word;
      std::memcpy(&word, &values[i], 4);
      word &= 0xffff0000u;
      std::memcpy(&values[i], &word, 4);
      bits[i] = word >> 16;
    } else {
      values[i] = std::round(values[i] * 64.0f) / 64.0f;  // k / 64, |k| <= 64: exact in f16
      const __half h = __float2half(values[i]);
      std::memcpy(&bits[i], &h, 2);
    }
  }
  return bits;
}

struct GemvCase {
  int64_t rows, cols, tokens;
  ElementType type;
  bool normalize, bias, accumulate;
};

TEST(CudaKernelsTest, GemvMatchesTheProductInDoublePrecision) {
  if (!HaveGpu()) GTEST_SKIP() << "no GPU";
  std::mt19937 rng(11);
  std::vector<GemvCase> cases;
  // Row and column counts that give each number of warps per row (1 to 8), partial blocks and
  // rows that end inside a lane's group of loads too; then more rows than the GPU holds at once
  // (several waves of blocks) and rows of many groups of loads per lane.
  std::vector<std::pair<int64_t, int64_t>> shapes = {{50280, 136}, {37, 32768}};
  for (int64_t rows : {1, 37, 1024, 4099}) {
    for (int64_t cols : {8, 136, 2048, 4096}) shapes.emplace_back(rows, cols);
  }
  for (auto [rows, cols] : shapes) {
    for (int64_t tokens : {1, 2}) {
      for (ElementType type : {ElementType::kBF16, ElementType::kF16}) {
        for (int flags = 0; flags < 8; ++flags) {
          cases.push_back(
              {rows, cols, tokens, type, (flags & 1) != 0, (flags & 2) != 0, (flags & 4) != 0});
        }
      }
    }
  }
  constexpr float kEps = 1e-5f;
  for (const GemvCase& c : cases) {
    const int64_t ldx = c.cols + 4, ldo = c.rows + 3;
    std::vector<float> w = Random(rng, c.rows * c.cols, -1, 1);
    const std::vector<uint16_t> w_bits = Representable(w, c.type);
    const std::vector<float> x = Random(rng, c.tokens * ldx, -2, 2);
    const std::vector<float> bias = Random(rng, c.rows, -1, 1);
    const std::vector<float> out0 = Random(rng, c.tokens * ldo, -1, 1);
    DeviceBuffer w_d = ToDevice(w_bits), x_d = ToDevice(x), bias_d = ToDevice(bias),
                 out_d = ToDevice(out0);
    const Matrix matrix{.data = w_d.get(), .type = c.type, .rows = c.rows, .cols = c.cols};
    ASSERT_TRUE(GemvSupports(matrix, x_d.get<float>(), ldx, c.tokens));
    Gemv(x_d.get<float>(), ldx, c.tokens, matrix, c.bias ? bias_d.get<float>() : nullptr,
         out_d.get<float>(), ldo, c.accumulate, {.enabled = c.normalize, .eps = kEps}, nullptr);
    ASSERT_EQ(cudaGetLastError(), cudaSuccess);
    const std::vector<float> out = ToHost<float>(out_d, out0.size());
    for (int64_t t = 0; t < c.tokens; ++t) {
      double squares = 0;
      for (int64_t k = 0; k < c.cols; ++k) squares += double(x[t * ldx + k]) * x[t * ldx + k];
      const double scale = c.normalize ? 1.0 / std::sqrt(squares / c.cols + kEps) : 1.0;
      for (int64_t r = 0; r < c.rows; ++r) {
        double dot = 0, magnitude = 0;
        for (int64_t k = 0; k < c.cols; ++k) {
          dot += double(w[r * c.cols + k]) * x[t * ldx + k];
          magnitude += std::abs(double(w[r * c.cols + k]) * x[t * ldx + k]);
        }
        const double before = c.accumulate ? out0[t * ldo + r] : 0.0;
        const double expected = before + dot * scale + (c.bias ? bias[r] : 0.0);
        ASSERT_NEAR(out[t * ldo + r], expected, 1e-5 * (magnitude * scale + 2) + 1e-6)
            << "rows " << c.rows << " cols " << c.cols << " tokens " << c.tokens << " f16 "
            << (c.type == ElementType::kF16) << " normalize " << c.normalize << " at (" << t << ", "
            << r << ")";
      }
      // Rows the product does not own keep their values (ldo > rows).
      for (int64_t r = c.rows; r < ldo; ++r) ASSERT_EQ(out[t * ldo + r], out0[t * ldo + r]);
    }
  }
}

TEST(CudaKernelsTest, GemvDeclinesWhatItCannotRun) {
  alignas(16) static float x[64];
  alignas(16) static uint16_t w[64];
  const Matrix bf16{.data = w, .type = ElementType::kBF16, .rows = 4, .cols = 16};
  EXPECT_TRUE(GemvSupports(bf16, x, 16, 2));
  EXPECT_FALSE(GemvSupports(bf16, x, 16, kGemvMaxTokens + 1));
  EXPECT_FALSE(GemvSupports(bf16, x, 18, 2));  // second token's row not 16-byte aligned
  EXPECT_FALSE(GemvSupports(bf16, x + 1, 16, 1));
  EXPECT_FALSE(
      GemvSupports({.data = w, .type = ElementType::kF32, .rows = 4, .cols = 16}, x, 16, 1));
  EXPECT_FALSE(
      GemvSupports({.data = w, .type = ElementType::kBF16, .rows = 4, .cols = 12}, x, 16, 1));
  EXPECT_FALSE(
      GemvSupports({.data = w, .type = ElementType::kBF16, .rows = 4, .cols = 0}, x, 16, 1));
  EXPECT_FALSE(
      GemvSupports({.data = w, .type = ElementType::kBF16, .rows = 0, .cols = 16}, x, 16, 1));
}

struct SkinnyCase {
  int64_t rows, cols, tokens;
  ElementType type;
  bool bias_and_accumulate;
};

TEST(CudaKernelsTest, SkinnyGemmMatchesTheProductInDoublePrecision) {
  if (!HaveGpu()) GTEST_SKIP() << "no GPU";
  std::mt19937 rng(12);
  std::vector<SkinnyCase> cases;
  // Shapes for each way the kernel splits its work: one round of columns for 8 warps (7 idle), a
  // partial last block, few rows (16 warps a block) over many rounds, many rows (8 warps a block)
  // with several rounds a warp; token counts that fill 1 to 4 tiles of 8, partly or whole.
  const std::pair<int64_t, int64_t> shapes[] = {{16, 64}, {37, 192}, {1000, 4096}, {8200, 1024}};
  for (auto [rows, cols] : shapes) {
    for (int64_t tokens : {1, 3, 8, 13, 32}) {
      for (ElementType type : {ElementType::kBF16, ElementType::kF16}) {
        for (bool extras : {false, true}) cases.push_back({rows, cols, tokens, type, extras});
      }
    }
  }
  for (const SkinnyCase& c : cases) {
    const int64_t ldx = c.cols + 8, ldo = c.rows + 3;
    std::vector<float> w = Random(rng, c.rows * c.cols, -1, 1);
    std::vector<float> x = Random(rng, c.tokens * ldx, -1, 1);
    const std::vector<uint16_t> w_bits = Representable(w, c.type),
                                x_bits = Representable(x, c.type);
    const std::vector<float> bias = Random(rng, c.rows, -1, 1);
    const std::vector<float> out0 = Random(rng, c.tokens * ldo, -1, 1);
    DeviceBuffer w_d = ToDevice(w_bits), x_d = ToDevice(x_bits), bias_d = ToDevice(bias),
                 out_d = ToDevice(out0);
    const Matrix matrix{.data = w_d.get(), .type = c.type, .rows = c.rows, .cols = c.cols};
    ASSERT_TRUE(SkinnyGemmSupports(matrix, x_d.get(), ldx, c.tokens));
    SkinnyGemm(x_d.get(), ldx, c.tokens, matrix,
               c.bias_and_accumulate ? bias_d.get<float>() : nullptr, out_d.get<float>(), ldo,
               c.bias_and_accumulate, nullptr);
    ASSERT_EQ(cudaGetLastError(), cudaSuccess);
    const std::vector<float> out = ToHost<float>(out_d, out0.size());
    for (int64_t t = 0; t < c.tokens; ++t) {
      for (int64_t r = 0; r < c.rows; ++r) {
        double dot = 0, magnitude = 0;
        for (int64_t k = 0; k < c.cols; ++k) {
          dot += double(w[r * c.cols + k]) * x[t * ldx + k];
          magnitude += std::abs(double(w[r * c.cols + k]) * x[t * ldx + k]);
        }
        const double expected =
            dot + (c.bias_and_accumulate ? out0[t * ldo + r] + double(bias[r]) : 0.0);
        ASSERT_NEAR(out[t * ldo + r], expected, 1e-4 * (magnitude + 2))
            << "rows " << c.rows << " cols " << c.cols << " tokens " << c.tokens << " f16 "
            << (c.type == ElementType::kF16) << " at (" << t << ", " << r << ")";
      }
      for (int64_t r = c.rows; r < ldo; ++r) ASSERT_EQ(out[t * ldo + r], out0[t * ldo + r]);
    }
  }
}

TEST(CudaKernelsTest, SkinnyGemmDeclinesWhatItCannotRun) {
  alignas(16) static uint16_t x[256], w[256];
  const Matrix bf16{.data = w, .type = ElementType::kBF16, .rows = 2, .cols = 64};
  EXPECT_TRUE(SkinnyGemmSupports(bf16, x, 64, 2));
  EXPECT_FALSE(SkinnyGemmSupports(bf16, x, 64, kSkinnyGemmMaxTokens + 1));
  EXPECT_FALSE(SkinnyGemmSupports(bf16, x, 68, 2));  // second token's row not 16-byte aligned
  EXPECT_FALSE(SkinnyGemmSupports(bf16, x + 1, 64, 1));
  EXPECT_FALSE(
      SkinnyGemmSupports({.data = w, .type = ElementType::kF32, .rows = 2, .cols = 64}, x, 64, 1));
  EXPECT_FALSE(
      SkinnyGemmSupports({.data = w, .type = ElementType::kBF16, .rows = 2, .cols = 96}, x, 96, 1));
  EXPECT_FALSE(
      SkinnyGemmSupports({.data = w, .type = ElementType::kBF16, .rows = 0, .cols = 64}, x, 64, 1));
}

// A step layout on the device: sequence s feeds lengths[s] tokens into slot slots[s]. With
// count_single_tokens, the layout says how many sequences have one token (as the backend's do),
// which lets a mixed step give those to the one-token kernels.
struct DeviceLayout {
  DeviceBuffer token_seq, seq_begin, seq_length, seq_slot;
  StepLayout layout;

  DeviceLayout(const std::vector<int32_t>& lengths, const std::vector<int32_t>& slots,
               bool count_single_tokens = false) {
    std::vector<int32_t> token_seq_h, begin_h;
    for (size_t s = 0; s < lengths.size(); ++s) {
      begin_h.push_back(token_seq_h.size());
      token_seq_h.insert(token_seq_h.end(), lengths[s], static_cast<int32_t>(s));
    }
    token_seq = ToDevice(token_seq_h);
    seq_begin = ToDevice(begin_h);
    seq_length = ToDevice(lengths);
    seq_slot = ToDevice(slots);
    layout = {.num_tokens = static_cast<int>(token_seq_h.size()),
              .num_sequences = static_cast<int>(lengths.size()),
              .token_seq = token_seq.get<int32_t>(),
              .seq_begin = seq_begin.get<int32_t>(),
              .seq_length = seq_length.get<int32_t>(),
              .seq_slot = seq_slot.get<int32_t>(),
              .max_seq_length = *std::max_element(lengths.begin(), lengths.end()),
              .single_token_sequences =
                  count_single_tokens
                      ? static_cast<int>(std::count(lengths.begin(), lengths.end(), 1))
                      : 0};
  }
};

// The one-token kernels are checked against the token-loop kernels on the same sequences: a
// decode step of kSequences sequences, and the same step with one more sequence of two tokens
// at the end, which makes it a general step (for the scan, also run as a mixed step whose one-token
// sequences go to the one-token kernel). Sequence s uses slot 2s + 1 of the pool, layer 1.
constexpr int kSequences = 5;
constexpr int kSlots = 2 * kSequences + 3;
constexpr int64_t kLayer = 1;

std::vector<int32_t> DecodeSlots() {
  std::vector<int32_t> slots;
  for (int s = 0; s < kSequences; ++s) slots.push_back(2 * s + 1);
  return slots;
}

struct ScanCase {
  const char* name;
  int64_t rows, head_dim, groups;
  int d_state;
  bool mamba1;  // A per state, no dt limits
  bool gated;   // outputs times silu(z): Mamba-1, and Mamba-2 in the CUDA backend
};

// mamba2_ssd has the head shape (64 x 128) whose chunk passes run as SSD products.
const ScanCase kScanCases[] = {{"mamba1", 256, 1, 1, 16, true, true},
                               {"mamba2_ungated", 128, 16, 2, 128, false, false},
                               {"mamba2_state64", 96, 32, 1, 64, false, true},
                               {"mamba2_ssd", 256, 64, 2, 128, false, true}};

// How ScanInputs::Run runs its scan.
struct ScanRunOptions {
  bool chunked = false;              // long steps take the chunked scan
  bool count_single_tokens = false;  // the layout counts one-token sequences (DeviceLayout)
  bool low_rank = false;             // dt in its low-rank form (UseLowRankStepSize)
  bool bf16_chunk_products = false;  // ScanArgs::bf16_chunk_products
};

// Random inputs of a scan over `tokens` rows, in device memory, and a pool of `slots` slots of
// two layers each (the scan runs layer kLayer, after a conv window of conv_floats floats: by
// default 7, which leaves the state unaligned, so that the kernels' element-wise loads run; a
// multiple of 4 gives their 16-byte loads).
class ScanInputs {
 public:
  ScanInputs(const ScanCase& c, int tokens, std::mt19937& rng, int slots = kSlots,
             int64_t conv_floats = 7)
      : c_(c),
        tokens_(tokens),
        heads_(c.rows / c.head_dim),
        conv_floats_(conv_floats),
        layer_floats_(conv_floats + c.rows * c.d_state) {
    state0_ = Random(rng, slots * 2 * layer_floats_, -1, 1);
    x_ = ToDevice(Random(rng, tokens * c.rows, -1, 1));
    dt_ = ToDevice(Random(rng, tokens * heads_, -3, 1));
    bc_ = ToDevice(Random(rng, tokens * 2 * c.groups * c.d_state, -1, 1));
    z_ = ToDevice(Random(rng, tokens * c.rows, -2, 2));
    std::vector<float> A = Random(rng, c.mamba1 ? c.rows * c.d_state : heads_, 0, 2);
    for (float& a : A) a = -std::exp(a);
    A_ = ToDevice(A);
    D_ = ToDevice(Random(rng, heads_, -1, 1));
    dt_bias_ = ToDevice(Random(rng, heads_, -1, 1));
  }

  int64_t layer_floats() const { return layer_floats_; }
  const std::vector<float>& state0() const { return state0_; }

  // Gives dt a low-rank form, dt = dt_low . dt_proj^T as Mamba-1's dt_proj makes it (dt_proj in
  // bf16), so that a run may pass either dt or that form.
  void UseLowRankStepSize(int dt_rank, std::mt19937& rng) {
    dt_rank_ = dt_rank;
    ld_low_ = dt_rank + 8;
    const std::vector<float> low = Random(rng, tokens_ * ld_low_, -1, 1);
    std::vector<float> proj = Random(rng, heads_ * dt_rank, -0.1f, 0.1f);
    dt_proj_ = ToDevice(Representable(proj, ElementType::kBF16));
    std::vector<float> dt(tokens_ * heads_);
    for (int t = 0; t < tokens_; ++t) {
      for (int64_t h = 0; h < heads_; ++h) {
        double sum = 0;
        for (int k = 0; k < dt_rank; ++k)
          sum += double(low[t * ld_low_ + k]) * proj[h * dt_rank + k];
        dt[t * heads_ + h] = static_cast<float>(sum);
      }
    }
    dt_low_ = ToDevice(low);
    dt_ = ToDevice(dt);
  }

  // Scans the step (sequence s: lengths[s] tokens, slot slots[s]); returns the whole pool after
  // it and y (when y_type is f32).
  std::pair<std::vector<float>, std::vector<float>> Run(const std::vector<int32_t>& lengths,
                                                        const std::vector<int32_t>& slots,
                                                        ElementType y_type,
                                                        const ScanRunOptions& options = {}) {
    const auto [chunked, count_single_tokens, low_rank, bf16_chunk_products] = options;
    DeviceBuffer state = ToDevice(state0_);
    DeviceBuffer y = ToDevice(std::vector<float>(tokens_ * c_.rows, NAN));
    const int64_t workspace_floats =
        chunked ? ScanWorkspaceFloats(tokens_, c_.rows, c_.d_state, heads_, c_.groups) : 0;
    DeviceBuffer workspace = ToDevice(std::vector<float>(std::max<int64_t>(workspace_floats, 1)));
    const DeviceLayout step(lengths, slots, count_single_tokens);
    const StatePool pool{.base = state.get<float>(),
                         .slot_floats = 2 * layer_floats_,
                         .layer_floats = layer_floats_};
    const int64_t ldbc = 2 * c_.groups * c_.d_state;
    const ScanArgs args{.rows = c_.rows,
                        .head_dim = c_.head_dim,
                        .heads_per_group = heads_ / c_.groups,
                        .d_state = c_.d_state,
                        .x = x_.get<float>(),
                        .ldx = c_.rows,
                        .dt = low_rank ? dt_low_.get<float>() : dt_.get<float>(),
                        .lddt = low_rank ? ld_low_ : heads_,
                        .dt_proj = low_rank ? dt_proj_.get() : nullptr,
                        .dt_rank = dt_rank_,
                        .dt_bias = dt_bias_.get<float>(),
                        .dt_min = c_.mamba1 ? 0.0f : 0.01f,
                        .dt_max = c_.mamba1 ? std::numeric_limits<float>::infinity() : 0.5f,
                        .B = bc_.get<float>(),
                        .C = bc_.get<float>() + c_.groups * c_.d_state,
                        .ldbc = ldbc,
                        .A = A_.get<float>(),
                        .a_per_state = c_.mamba1,
                        .D = D_.get<float>(),
                        .z = c_.gated ? z_.get<float>() : nullptr,
                        .ldz = c_.rows,
                        .y = y.get(),
                        .ldy = c_.rows,
                        .y_type = y_type,
                        .bf16_chunk_products = bf16_chunk_products,
                        .workspace = workspace.get<float>(),
                        .workspace_floats = workspace_floats};
    if (low_rank) {
      EXPECT_TRUE(ScanTakesLowRankStepSize(args, step.layout.num_sequences));
    }
    SelectiveScan(step.layout, pool, kLayer, conv_floats_, args, nullptr);
    EXPECT_EQ(cudaGetLastError(), cudaSuccess);
    return {ToHost<float>(state, state0_.size()), y_type == ElementType::kF32
                                                      ? ToHost<float>(y, tokens_ * c_.rows)
                                                      : std::vector<float>{}};
  }

 private:
  ScanCase c_;
  int tokens_;
  int64_t heads_, conv_floats_, layer_floats_;
  std::vector<float> state0_;
  DeviceBuffer x_, dt_, bc_, z_, A_, D_, dt_bias_;
  int dt_rank_ = 0;
  int64_t ld_low_ = 0;
  DeviceBuffer dt_low_, dt_proj_;  // with UseLowRankStepSize
};

TEST(CudaKernelsTest, OneTokenScanEqualsTheTokenLoop) {
  if (!HaveGpu()) GTEST_SKIP() << "no GPU";
  std::mt19937 rng(5);
  for (const ScanCase& c : kScanCases) {
    const int tokens = kSequences + 2;
    ScanInputs inputs(c, tokens, rng);
    const int64_t layer_floats = inputs.layer_floats();
    std::vector<int32_t> lengths(kSequences, 1), slots = DecodeSlots();
    const auto [decode_state, decode_y] =
        inputs.Run(lengths, slots, ElementType::kF32, {.chunked = true});
    lengths.push_back(2);
    slots.push_back(0);
    const auto [loop_state, loop_y] =
        inputs.Run(lengths, slots, ElementType::kF32, {.chunked = true});
    // The same mixed step with its one-token sequences given to the one-token kernel.
    const auto [mixed_state, mixed_y] = inputs.Run(lengths, slots, ElementType::kF32,
                                                   {.chunked = true, .count_single_tokens = true});
    for (int64_t i = 0; i < kSequences * c.rows; ++i) {
      ASSERT_FALSE(std::isnan(decode_y[i])) << c.name << ": y " << i << " not written";
      ASSERT_NEAR(decode_y[i], loop_y[i], 1e-5f * (1 + std::abs(loop_y[i])))
          << c.name << " y " << i;
    }
    for (int64_t i = 0; i < tokens * c.rows; ++i) {
      ASSERT_NEAR(mixed_y[i], loop_y[i], 1e-5f * (1 + std::abs(loop_y[i])))
          << c.name << " mixed step, y " << i;
    }
    for (size_t i = 0; i < loop_state.size(); ++i) {
      ASSERT_NEAR(mixed_state[i], loop_state[i], 1e-5f * (1 + std::abs(loop_state[i])))
          << c.name << " mixed step, pool float " << i;
    }
    for (int32_t slot : DecodeSlots()) {
      for (int64_t i = 0; i < 2 * layer_floats; ++i) {
        const int64_t at = slot * 2 * layer_floats + i;
        ASSERT_NEAR(decode_state[at], loop_state[at], 1e-5f * (1 + std::abs(loop_state[at])))
            << c.name << " slot " << slot << " float " << i;
      }
    }
    // Slots outside the step are untouched.
    for (int64_t i = 0; i < 2 * layer_floats; ++i) {
      ASSERT_EQ(decode_state[2 * 2 * layer_floats + i], inputs.state0()[2 * 2 * layer_floats + i]);
    }
  }
}

// Mamba-1's decode scan given dt in its low-rank form (dt_low and dt_proj, as x_proj and dt_proj
// leave them) against the same scan given dt: dt_rank 48 (mamba-130m: 6 pieces of 8 over a row's
// 4 lanes) and 160 (mamba-2.8b).
TEST(CudaKernelsTest, OneTokenScanComputesTheLowRankStepSizeAsDtProjWould) {
  if (!HaveGpu()) GTEST_SKIP() << "no GPU";
  std::mt19937 rng(6);
  const ScanCase& mamba1 = kScanCases[0];
  for (int dt_rank : {48, 160}) {
    ScanInputs inputs(mamba1, kSequences, rng, kSlots, /*conv_floats=*/8);
    inputs.UseLowRankStepSize(dt_rank, rng);
    const std::vector<int32_t> lengths(kSequences, 1), slots = DecodeSlots();
    const auto [plain_state, plain_y] = inputs.Run(lengths, slots, ElementType::kF32);
    const auto [low_rank_state, low_rank_y] =
        inputs.Run(lengths, slots, ElementType::kF32, {.low_rank = true});
    for (size_t i = 0; i < plain_y.size(); ++i) {
      ASSERT_NEAR(low_rank_y[i], plain_y[i], 1e-5f * (1 + std::abs(plain_y[i])))
          << "dt_rank " << dt_rank << " y " << i;
    }
    for (size_t i = 0; i < plain_state.size(); ++i) {
      ASSERT_NEAR(low_rank_state[i], plain_state[i], 1e-5f * (1 + std::abs(plain_state[i])))
          << "dt_rank " << dt_rank << " pool float " << i;
    }
  }
}

TEST(CudaKernelsTest, LowRankStepSizeIsDeclinedWhereTheScanCannotTakeIt) {
  alignas(16) static float dt_low[256];
  alignas(16) static uint16_t dt_proj[256];
  // mamba-1.4b's shapes: 4,096 rows of 16 states, dt_rank 128, dt_low rows 160 floats apart.
  const ScanArgs mamba1{.rows = 4096,
                        .head_dim = 1,
                        .d_state = 16,
                        .dt = dt_low,
                        .lddt = 160,
                        .dt_proj = dt_proj,
                        .dt_proj_type = ElementType::kBF16,
                        .dt_rank = 128};
  EXPECT_TRUE(ScanTakesLowRankStepSize(mamba1, 1));
  EXPECT_TRUE(ScanTakesLowRankStepSize(mamba1, 8));
  EXPECT_FALSE(ScanTakesLowRankStepSize(mamba1, 16));  // four runs per thread
  ScanArgs odd_rank = mamba1;
  odd_rank.dt_rank = 12;
  EXPECT_FALSE(ScanTakesLowRankStepSize(odd_rank, 1));
  ScanArgs heads = mamba1;
  heads.head_dim = 64;
  EXPECT_FALSE(ScanTakesLowRankStepSize(heads, 1));
  ScanArgs fp32 = mamba1;
  fp32.dt_proj_type = ElementType::kF32;
  EXPECT_FALSE(ScanTakesLowRankStepSize(fp32, 1));
  ScanArgs unaligned = mamba1;
  unaligned.lddt = 162;
  EXPECT_FALSE(ScanTakesLowRankStepSize(unaligned, 1));
}

// Decode steps big enough that the one-token kernel gives each thread four runs of state (the
// steps above are small, and take one run per thread): the same outputs and states as the
// token-loop kernel. Mamba-1 and Mamba-2 layers of published widths, with the state aligned for
// 16-byte loads, as in a real pool; 16 and 18 sequences (for the Mamba-1 layer a grid the GPU
// holds at once) and 64 and 67 (more than it holds: the kernel bounded for occupancy).
TEST(CudaKernelsTest, OneTokenScanOfABigStepEqualsTheTokenLoop) {
  if (!HaveGpu()) GTEST_SKIP() << "no GPU";
  std::mt19937 rng(9);
  const ScanCase cases[] = {{"mamba1_wide", 4096, 1, 1, 16, true, true},
                            {"mamba2_wide", 2048, 64, 1, 128, false, true}};
  for (const int many : {16, 18, 64, 67}) {
    for (const ScanCase& c : cases) {
      ScanInputs inputs(c, many + 2, rng, many + 1, /*conv_floats=*/8);
      std::vector<int32_t> lengths(many, 1), slots(many);
      for (int s = 0; s < many; ++s) slots[s] = s;
      const auto [decode_state, decode_y] = inputs.Run(lengths, slots, ElementType::kF32);
      lengths.push_back(2);  // a general step: the token loop for every sequence
      slots.push_back(many);
      const auto [loop_state, loop_y] = inputs.Run(lengths, slots, ElementType::kF32);
      for (int64_t i = 0; i < many * c.rows; ++i) {
        ASSERT_NEAR(decode_y[i], loop_y[i], 1e-5f * (1 + std::abs(loop_y[i])))
            << c.name << " " << many << " sequences, y " << i;
      }
      const int64_t decode_floats = many * 2 * inputs.layer_floats();
      for (int64_t i = 0; i < decode_floats; ++i) {
        ASSERT_NEAR(decode_state[i], loop_state[i], 1e-5f * (1 + std::abs(loop_state[i])))
            << c.name << " " << many << " sequences, pool float " << i;
      }
    }
  }
}

// Long sequences (whole chunks, a partial last chunk, a sequence shorter than one chunk) give
// the same outputs and final states chunked as token by token. The tolerance is 10x the
// one-token test's: chunks sum in another order and take a chunk's decay as exp(A * sum of dt)
// rather than the product of each token's, both exact only up to rounding.
TEST(CudaKernelsTest, ChunkedScanEqualsTheTokenLoop) {
  if (!HaveGpu()) GTEST_SKIP() << "no GPU";
  std::mt19937 rng(6);
  const std::vector<int32_t> lengths = {5 * kScanChunkTokens + 17, 100, 3 * kScanChunkTokens};
  const std::vector<int32_t> slots = {3, 0, 8};
  const int tokens = lengths[0] + lengths[1] + lengths[2];
  ASSERT_GE(tokens, 2 * kScanChunkTokens * static_cast<int>(lengths.size()));  // chunked
  for (const ScanCase& c : kScanCases) {
    ScanInputs inputs(c, tokens, rng);
    const auto [chunked_state, chunked_y] =
        inputs.Run(lengths, slots, ElementType::kF32, {.chunked = true});
    const auto [loop_state, loop_y] = inputs.Run(lengths, slots, ElementType::kF32);
    for (int64_t i = 0; i < tokens * c.rows; ++i) {
      ASSERT_FALSE(std::isnan(chunked_y[i])) << c.name << ": y " << i << " not written";
      ASSERT_NEAR(chunked_y[i], loop_y[i], 1e-4f * (1 + std::abs(loop_y[i])))
          << c.name << " y " << i;
    }
    for (size_t i = 0; i < loop_state.size(); ++i) {
      ASSERT_NEAR(chunked_state[i], loop_state[i], 1e-4f * (1 + std::abs(loop_state[i])))
          << c.name << " pool float " << i;
    }
  }
}

// With bf16 chunk products (Mamba-2 heads on the tensor cores), the chunked scan stays within
// bf16 rounding of the token loop: every factor rounded once (~0.2%), summed over a chunk. Each
// value is held to 3% of the output's RMS (plus 3% of itself), and the mean error to 0.5% of
// the RMS; a misplaced fragment or a lost decay is off by the order of the values themselves.
TEST(CudaKernelsTest, ChunkedScanWithBf16ProductsStaysNearTheTokenLoop) {
  if (!HaveGpu()) GTEST_SKIP() << "no GPU";
  std::mt19937 rng(13);
  const std::vector<int32_t> lengths = {5 * kScanChunkTokens + 17, 100, 3 * kScanChunkTokens};
  const std::vector<int32_t> slots = {3, 0, 8};
  const int tokens = lengths[0] + lengths[1] + lengths[2];
  auto expect_near = [](const std::vector<float>& got, const std::vector<float>& want,
                        const std::string& what) {
    double squares = 0, errors = 0;
    for (float v : want) squares += double(v) * v;
    const double rms = std::sqrt(squares / want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_FALSE(std::isnan(got[i])) << what << " " << i << " not written";
      ASSERT_NEAR(got[i], want[i], 3e-2 * (rms + std::abs(want[i]))) << what << " " << i;
      errors += std::abs(double(got[i]) - want[i]);
    }
    EXPECT_LT(errors / want.size(), 5e-3 * rms) << what << ": mean error";
  };
  for (const ScanCase& c : kScanCases) {
    if (c.head_dim != 64 || c.d_state != 128) continue;  // the SSD passes' head shape
    ScanInputs inputs(c, tokens, rng);
    const auto [state, y] = inputs.Run(lengths, slots, ElementType::kF32,
                                       {.chunked = true, .bf16_chunk_products = true});
    const auto [loop_state, loop_y] = inputs.Run(lengths, slots, ElementType::kF32);
    expect_near(y, loop_y, std::string(c.name) + " y");
    expect_near(state, loop_state, std::string(c.name) + " pool");
  }
}

TEST(CudaKernelsTest, OneTokenConvEqualsTheTokenLoopAndWritesTheNarrowCopy) {
  if (!HaveGpu()) GTEST_SKIP() << "no GPU";
  std::mt19937 rng(9);
  for (int kernel : {2, 4}) {
    const int64_t channels = 300, ldx = 310;
    const int64_t layer_floats = (kernel - 1) * channels + 11;
    const int tokens = kSequences + 2;
    const std::vector<float> state0 = Random(rng, kSlots * 2 * layer_floats, -1, 1);
    const std::vector<float> x = Random(rng, tokens * ldx, -1, 1);
    const std::vector<float> weight = Random(rng, channels * kernel, -1, 1);
    const std::vector<float> bias = Random(rng, channels, -1, 1);
    DeviceBuffer x_d = ToDevice(x), w_d = ToDevice(weight), bias_d = ToDevice(bias);
    auto run = [&](const std::vector<int32_t>& lengths, const std::vector<int32_t>& slots) {
      DeviceBuffer state = ToDevice(state0);
      DeviceBuffer out = ToDevice(std::vector<float>(tokens * channels, NAN));
      DeviceBuffer copy = ToDevice(std::vector<uint16_t>(tokens * channels, 0xffff));
      const DeviceLayout step(lengths, slots);
      const StatePool pool{.base = state.get<float>(),
                           .slot_floats = 2 * layer_floats,
                           .layer_floats = layer_floats};
      CausalConv1dSilu(step.layout, pool, kLayer, x_d.get<float>(), ldx, channels, kernel,
                       w_d.get<float>(), bias_d.get<float>(),
                       {.data = out.get<float>(),
                        .ld = channels,
                        .copy = copy.get(),
                        .copy_type = ElementType::kBF16},
                       nullptr);
      EXPECT_EQ(cudaGetLastError(), cudaSuccess);
      return std::tuple{ToHost<float>(state, state0.size()), ToHost<float>(out, tokens * channels),
                        ToHost<uint16_t>(copy, tokens * channels)};
    };
    std::vector<int32_t> lengths(kSequences, 1), slots = DecodeSlots();
    const auto [decode_state, decode_out, decode_copy] = run(lengths, slots);
    lengths.push_back(2);
    slots.push_back(0);
    const auto [loop_state, loop_out, loop_copy] = run(lengths, slots);
    for (int64_t i = 0; i < kSequences * channels; ++i) {
      ASSERT_NEAR(decode_out[i], loop_out[i], 1e-6f * (1 + std::abs(loop_out[i])))
          << "kernel " << kernel << " output " << i;
      // The copy is the output rounded to bf16.
      uint16_t expected_bits;
      const __nv_bfloat16 rounded = __float2bfloat16(decode_out[i]);
      std::memcpy(&expected_bits, &rounded, 2);
      ASSERT_EQ(decode_copy[i], expected_bits) << "kernel " << kernel << " copy " << i;
    }
    for (int32_t slot : DecodeSlots()) {
      for (int64_t i = 0; i < 2 * layer_floats; ++i) {
        const int64_t at = slot * 2 * layer_floats + i;
        ASSERT_EQ(decode_state[at], loop_state[at]) << "kernel " << kernel << " slot " << slot;
      }
    }
  }
}

// Gemv with the conv in its epilogue against Gemv and then the one-token conv, for 1 and 2
// sequences, with in_proj's rows laid out as Mamba-2's ([z | conv channels | dt]) and for each
// number of warps per row: the same product, outputs, narrow copy and shifted windows.
TEST(CudaKernelsTest, GemvWithTheConvEqualsGemvThenTheConv) {
  if (!HaveGpu()) GTEST_SKIP() << "no GPU";
  std::mt19937 rng(10);
  constexpr int kKernel = kGemvConvKernel;
  // Few rows take 8 warps each; 4,249 rows of 64 or 2,048 columns one or two; 30,049 rows are
  // more than the GPU holds at once.
  for (auto [channels, cols] :
       {std::pair<int64_t, int64_t>{300, 64}, {300, 4096}, {4200, 64}, {4200, 2048}, {30000, 64}}) {
    for (int sequences : {1, 2}) {
      const int64_t first_row = 40, rows = first_row + channels + 9;
      const int64_t layer_floats = (kKernel - 1) * channels + 11;
      const std::vector<int32_t> slots = {3, 1};
      std::vector<float> w = Random(rng, rows * cols, -1, 1);
      const std::vector<uint16_t> w_bits = Representable(w, ElementType::kBF16);
      const std::vector<float> x = Random(rng, sequences * cols, -2, 2);
      const std::vector<float> state0 = Random(rng, 4 * 2 * layer_floats, -1, 1);
      const std::vector<float> conv_w = Random(rng, channels * kKernel, -1, 1);
      const std::vector<float> conv_b = Random(rng, channels, -1, 1);
      DeviceBuffer w_d = ToDevice(w_bits), x_d = ToDevice(x), conv_w_d = ToDevice(conv_w),
                   conv_b_d = ToDevice(conv_b);
      const Matrix matrix{
          .data = w_d.get(), .type = ElementType::kBF16, .rows = rows, .cols = cols};
      const DeviceLayout step(std::vector<int32_t>(sequences, 1),
                              std::vector<int32_t>(slots.begin(), slots.begin() + sequences));
      auto run = [&](bool fused) {
        DeviceBuffer state = ToDevice(state0);
        DeviceBuffer out = ToDevice(std::vector<float>(sequences * rows, NAN));
        DeviceBuffer conv_out = ToDevice(std::vector<float>(sequences * channels, NAN));
        DeviceBuffer copy = ToDevice(std::vector<uint16_t>(sequences * channels, 0xffff));
        const StatePool pool{.base = state.get<float>(),
                             .slot_floats = 2 * layer_floats,
                             .layer_floats = layer_floats};
        const ConvOutput conv_output{.data = conv_out.get<float>(),
                                     .ld = channels,
                                     .copy = copy.get(),
                                     .copy_type = ElementType::kBF16};
        GemvConv conv;
        if (fused) {
          conv = {.weight = conv_w_d.get<float>(),
                  .bias = conv_b_d.get<float>(),
                  .first_row = first_row,
                  .channels = channels,
                  .step = step.layout,
                  .pool = pool,
                  .layer = kLayer,
                  .out = conv_output};
        }
        Gemv(x_d.get<float>(), cols, sequences, matrix, nullptr, out.get<float>(), rows,
             /*accumulate=*/false, {.enabled = true, .eps = 1e-5f}, nullptr, conv);
        if (!fused) {
          CausalConv1dSilu(step.layout, pool, kLayer, out.get<float>() + first_row, rows, channels,
                           kKernel, conv_w_d.get<float>(), conv_b_d.get<float>(), conv_output,
                           nullptr);
        }
        EXPECT_EQ(cudaGetLastError(), cudaSuccess);
        return std::tuple{
            ToHost<float>(out, sequences * rows), ToHost<float>(conv_out, sequences * channels),
            ToHost<uint16_t>(copy, sequences * channels), ToHost<float>(state, state0.size())};
      };
      const auto [fused_out, fused_conv, fused_copy, fused_state] = run(true);
      const auto [plain_out, plain_conv, plain_copy, plain_state] = run(false);
      const std::string where = "channels " + std::to_string(channels) + " cols " +
                                std::to_string(cols) + " sequences " + std::to_string(sequences);
      // The same arithmetic in two instantiations of one kernel: equal but for contraction.
      for (size_t i = 0; i < plain_out.size(); ++i) {
        ASSERT_NEAR(fused_out[i], plain_out[i], 1e-6f * (1 + std::abs(plain_out[i])))
            << where << " product " << i;
      }
      for (size_t i = 0; i < plain_conv.size(); ++i) {
        ASSERT_NEAR(fused_conv[i], plain_conv[i], 1e-6f * (1 + std::abs(plain_conv[i])))
            << where << " conv output " << i;
        ASSERT_LE(std::abs(fused_copy[i] - plain_copy[i]), 1) << where << " copy " << i;
      }
      for (size_t i = 0; i < plain_state.size(); ++i) {  // windows shifted, the rest untouched
        ASSERT_NEAR(fused_state[i], plain_state[i], 1e-6f * (1 + std::abs(plain_state[i])))
            << where << " pool float " << i;
      }
    }
  }
}

// The device draw against its definition, ssm::TokenDrawer, on rows of a realistic vocabulary
// and every kind of cut, with and without penalties and bans. Weights come from expf on the device
// and std::exp on the host, which may differ in the last bit, so a draw landing within that of an
// edge may differ: allow 1 in 200, which a wrong cut or walk would exceed by far.
TEST(CudaKernelsTest, DrawTokensFollowsTheHostDefinition) {
  if (!HaveGpu()) GTEST_SKIP() << "no GPU";
  std::mt19937 rng(13);
  constexpr int kRows = 600;
  constexpr int64_t kVocab = 50280;
  std::normal_distribution<float> logit(0.0f, 3.0f);
  std::vector<float> logits(kRows * kVocab);
  for (float& l : logits) l = logit(rng);
  for (int r = 0; r < 4; ++r) {  // rows 0-3: the best logit tied among many ids
    for (int64_t i = 0; i < kVocab; i += 7) logits[r * kVocab + i] = 12.0f;
  }
  const float temperatures[] = {0.0f, 0.5f, 1.0f, 1.7f};
  const int32_t top_ks[] = {0, 1, 5, 50, 1000};
  const float top_ps[] = {1.0f, 0.95f, 0.6f, 0.1f};
  const float min_ps[] = {0.0f, 0.02f, 0.3f};
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::uniform_int_distribution<int32_t> any_id(0, kVocab - 1), times(0, 4);
  // Every third row also has penalties on 40 tokens (among them its best) and two banned ids.
  std::vector<DrawParams> params(kRows);
  std::vector<std::vector<PenalizedToken>> penalized(kRows);
  std::vector<std::vector<int32_t>> banned(kRows);
  std::vector<int32_t> extras;
  for (int r = 0; r < kRows; ++r) {
    params[r] = {.temperature = temperatures[r % 4],
                 .top_k = top_ks[r / 4 % 5],
                 .top_p = top_ps[r / 20 % 4],
                 .min_p = min_ps[r / 80 % 3],
                 .uniform = uniform(rng)};
    if (r % 3 != 0) continue;
    const std::span<const float> row(&logits[r * kVocab], kVocab);
    std::vector<int32_t> ids = {
        static_cast<int32_t>(std::max_element(row.begin(), row.end()) - row.begin())};
    while (ids.size() < 40) {
      const int32_t id = any_id(rng);
      if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
    }
    for (int32_t id : ids) penalized[r].push_back({.id = id, .generated = times(rng)});
    banned[r] = {any_id(rng), any_id(rng)};
    params[r].repetition_penalty = 1.3f;
    params[r].presence_penalty = 0.5f;
    params[r].frequency_penalty = 0.25f;
    params[r].penalized_begin = extras.size();
    params[r].penalized_count = penalized[r].size();
    for (const PenalizedToken& t : penalized[r]) extras.insert(extras.end(), {t.id, t.generated});
    params[r].banned_begin = extras.size();
    params[r].banned_count = banned[r].size();
    extras.insert(extras.end(), banned[r].begin(), banned[r].end());
  }
  DeviceBuffer logits_d = ToDevice(logits), params_d = ToDevice(params);
  DeviceBuffer extras_d = ToDevice(extras);
  DeviceBuffer ids_d = ToDevice(std::vector<int32_t>(kRows, -1));
  DrawTokens(logits_d.get<float>(), kVocab, kRows, kVocab, params_d.get<DrawParams>(),
             extras_d.get<int32_t>(), ids_d.get<int32_t>(), nullptr);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  const std::vector<int32_t> ids = ToHost<int32_t>(ids_d, kRows);
  TokenDrawer drawer;
  int differ = 0;
  for (int r = 0; r < kRows; ++r) {
    const DrawParams& p = params[r];
    const int32_t expected = drawer.Draw(std::span<const float>(&logits[r * kVocab], kVocab),
                                         {.temperature = p.temperature,
                                          .top_k = p.top_k,
                                          .top_p = p.top_p,
                                          .min_p = p.min_p,
                                          .uniform = p.uniform,
                                          .repetition_penalty = p.repetition_penalty,
                                          .presence_penalty = p.presence_penalty,
                                          .frequency_penalty = p.frequency_penalty,
                                          .penalized = penalized[r],
                                          .banned = banned[r]});
    ASSERT_GE(ids[r], 0) << "row " << r << " got no token";
    ASSERT_TRUE(std::find(banned[r].begin(), banned[r].end(), ids[r]) == banned[r].end())
        << "row " << r << " drew a banned id";
    if (p.temperature == 0.0f) {
      ASSERT_EQ(ids[r], expected) << "argmax, row " << r;
    }
    if (ids[r] != expected) {
      ++differ;
      std::printf("row %d (temperature %g, top_k %d, top_p %g, min_p %g): %d, host %d\n", r,
                  p.temperature, p.top_k, p.top_p, p.min_p, ids[r], expected);
    }
  }
  EXPECT_LE(differ, kRows / 200);
}

}  // namespace
}  // namespace ssm::kernels::cuda
