// libFuzzer target: encode arbitrary bytes and decode arbitrary ids with the real tokenizers.
// Checks, besides "no crash, no sanitizer report":
//   * invalid UTF-8 is refused, valid UTF-8 is accepted;
//   * GPT-2 (no normalizer) round-trips: decode(encode(text)) == text;
//   * incremental decoding never emits a split character and adds up to the full decode.
// tools/run_fuzzers.sh builds and runs it.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "engine/tokenizer/tokenizer.h"
#include "engine/tokenizer/utf8.h"
#include "tests/fuzz/check.h"

using ssm::fuzz::Check;

namespace {

const ssm::Tokenizer& Load(const char* name) {
  const std::string path = std::string(SSM_FIXTURES_DIR) + "/tokenizer/" + name;
  static std::vector<std::unique_ptr<ssm::Tokenizer>> keep;
  absl::StatusOr<std::unique_ptr<ssm::Tokenizer>> t = ssm::Tokenizer::Load(path);
  if (!t.ok()) std::abort();
  keep.push_back(*std::move(t));
  return *keep.back();
}

void CheckIncrementalDecode(const ssm::Tokenizer& tokenizer, const std::vector<int32_t>& ids) {
  ssm::IncrementalDecoder decoder(tokenizer);
  std::string joined;
  for (int32_t id : ids) {
    absl::StatusOr<std::string> delta = decoder.Add(id);
    Check(delta.ok());
    Check(!ssm::utf8::FirstInvalidByte(*delta).has_value());
    joined += *delta;
  }
  joined += decoder.Finish();
  Check(!ssm::utf8::FirstInvalidByte(joined).has_value());
  Check(joined == *tokenizer.Decode(ids));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const ssm::Tokenizer& gpt2 = Load("gpt2.json");
  static const ssm::Tokenizer& neox = Load("gpt-neox-20b.json");
  const std::string text(reinterpret_cast<const char*>(data), size);
  const bool valid = !ssm::utf8::FirstInvalidByte(text).has_value();

  for (const ssm::Tokenizer* tokenizer : {&gpt2, &neox}) {
    absl::StatusOr<std::vector<int32_t>> ids = tokenizer->Encode(text);
    Check(ids.ok() == valid);
    if (!ids.ok()) continue;
    CheckIncrementalDecode(*tokenizer, *ids);
    if (tokenizer == &gpt2) Check(*tokenizer->Decode(*ids) == text);
  }

  // The same bytes read as ids: decoding arbitrary id sequences (cut characters and all).
  std::vector<int32_t> ids;
  for (size_t i = 0; i + 1 < size; i += 2) ids.push_back((data[i] << 8 | data[i + 1]) % 50257);
  CheckIncrementalDecode(gpt2, ids);
  return 0;
}
