// The tokenizer against HF tokenizers (tests/fixtures/tokenizer/*.goldens.json, made by
// tools/make_tokenizer_goldens.py): every golden must agree exactly.
#include "engine/tokenizer/tokenizer.h"

#include <fstream>
#include <sstream>

#include "engine/tokenizer/utf8.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/fixtures.h"

namespace ssm {
namespace {

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

nlohmann::json Goldens(const std::string& name) {
  return nlohmann::json::parse(
      ReadText(testing::FixturesDir() + "/tokenizer/" + name + ".goldens.json"));
}

const Tokenizer& Load(const std::string& name) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  auto& slot = cache[name];
  if (!slot) {
    absl::StatusOr<std::unique_ptr<Tokenizer>> t =
        Tokenizer::Load(testing::FixturesDir() + "/tokenizer/" + name + ".json");
    EXPECT_TRUE(t.ok()) << t.status();
    slot = *std::move(t);
  }
  return *slot;
}

// The golden hash: FNV-1a 64 over, per text, its id count and its ids (4 bytes little-endian).
class IdHash {
 public:
  void Add(const std::vector<int32_t>& ids) {
    Mix(static_cast<uint32_t>(ids.size()));
    for (int32_t id : ids) Mix(static_cast<uint32_t>(id));
    count_ += ids.size();
  }
  std::string Hex() const {
    char buffer[17];
    std::snprintf(buffer, sizeof buffer, "%016llx", static_cast<unsigned long long>(hash_));
    return buffer;
  }
  size_t count() const { return count_; }

 private:
  void Mix(uint32_t value) {
    for (int i = 0; i < 4; ++i) {
      hash_ = (hash_ ^ ((value >> (8 * i)) & 0xFF)) * 0x100000001b3ULL;
    }
  }
  uint64_t hash_ = 0xcbf29ce484222325ULL;
  size_t count_ = 0;
};

// Splits text into pieces of at most `chars` code points, as Python slicing of a str does.
std::vector<std::string> Blocks(const std::string& text, size_t chars) {
  std::vector<std::string> blocks;
  size_t begin = 0, pos = 0, n = 0;
  while (pos < text.size()) {
    utf8::Next(text, pos);
    if (++n == chars) {
      blocks.push_back(text.substr(begin, pos - begin));
      begin = pos;
      n = 0;
    }
  }
  if (begin < text.size()) blocks.push_back(text.substr(begin));
  return blocks;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t begin = 0;
  for (size_t nl; (nl = text.find('\n', begin)) != std::string::npos; begin = nl + 1) {
    lines.push_back(text.substr(begin, nl - begin));
  }
  lines.push_back(text.substr(begin));
  return lines;
}

class TokenizerGoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(TokenizerGoldenTest, AdversarialTextsEncodeAndDecodeExactly) {
  const Tokenizer& tokenizer = Load(GetParam());
  const nlohmann::json goldens = Goldens(GetParam());
  ASSERT_GT(goldens["adversarial"].size(), 80u);
  for (const auto& golden : goldens["adversarial"]) {
    const std::string text = golden["text"];
    absl::StatusOr<std::vector<int32_t>> ids = tokenizer.Encode(text);
    ASSERT_TRUE(ids.ok()) << ids.status();
    EXPECT_EQ(*ids, golden["ids"].get<std::vector<int32_t>>()) << "text: " << text;
    absl::StatusOr<std::string> decoded =
        tokenizer.Decode(golden["ids"].get<std::vector<int32_t>>());
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(*decoded, golden["decoded"].get<std::string>()) << "text: " << text;
  }
}

TEST_P(TokenizerGoldenTest, CorporaEncodeExactlyLineByLineAndInBlocks) {
  const Tokenizer& tokenizer = Load(GetParam());
  const nlohmann::json goldens = Goldens(GetParam());
  const size_t group = goldens["line_group"];
  for (const auto& [corpus, expected] : goldens["corpora"].items()) {
    const std::string text = ReadText(testing::FixturesDir() + "/corpora/" + corpus);
    const std::vector<std::string> lines = Lines(text);
    ASSERT_EQ(expected["lines"].size(), (lines.size() + group - 1) / group) << corpus;
    for (size_t g = 0; g < expected["lines"].size(); ++g) {
      IdHash hash;
      for (size_t i = g * group; i < std::min(lines.size(), (g + 1) * group); ++i) {
        hash.Add(*tokenizer.Encode(lines[i]));
      }
      EXPECT_EQ(hash.count(), expected["lines"][g][0].get<size_t>())
          << corpus << " lines group " << g;
      EXPECT_EQ(hash.Hex(), expected["lines"][g][1].get<std::string>())
          << corpus << " lines " << g * group << ".." << (g + 1) * group - 1;
    }
    const std::vector<std::string> blocks = Blocks(text, goldens["block_chars"]);
    ASSERT_EQ(expected["blocks"].size(), blocks.size()) << corpus;
    for (size_t b = 0; b < blocks.size(); ++b) {
      IdHash hash;
      const std::vector<int32_t> ids = *tokenizer.Encode(blocks[b]);
      hash.Add(ids);
      EXPECT_EQ(hash.Hex(), expected["blocks"][b][1].get<std::string>())
          << corpus << " block " << b;
      // Decoding gives the text back: the corpora are already NFC. (The variant's NFKC and
      // prefix space change the text, so it cannot round-trip.)
      if (GetParam() != "gpt2-variant") {
        EXPECT_TRUE(*tokenizer.Decode(ids) == blocks[b])
            << corpus << " block " << b << " does not decode back to itself";
      }
    }
  }
}

// Streaming: deltas never split a character and add up to the full decode, for every golden.
TEST_P(TokenizerGoldenTest, IncrementalDecodeNeverSplitsACharacter) {
  const Tokenizer& tokenizer = Load(GetParam());
  const nlohmann::json goldens = Goldens(GetParam());  // the loop below walks inside it
  for (const auto& golden : goldens["adversarial"]) {
    IncrementalDecoder decoder(tokenizer);
    std::string joined;
    for (int32_t id : golden["ids"].get<std::vector<int32_t>>()) {
      const std::string delta = *decoder.Add(id);
      EXPECT_FALSE(utf8::FirstInvalidByte(delta).has_value()) << "delta splits a character";
      joined += delta;
    }
    joined += decoder.Finish();
    EXPECT_EQ(joined, golden["decoded"].get<std::string>());
  }
}

INSTANTIATE_TEST_SUITE_P(Goldens, TokenizerGoldenTest,
                         ::testing::Values("gpt-neox-20b", "gpt2", "gpt2-variant"),
                         [](const auto& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST(TokenizerTest, KnownIdsOfGptNeox) {
  const Tokenizer& t = Load("gpt-neox-20b");
  EXPECT_EQ(*t.Encode("Hello"), std::vector<int32_t>{12092});
  EXPECT_EQ(*t.Encode(" world"), std::vector<int32_t>{1533});
  EXPECT_EQ(*t.Encode("Hey how are you doing?"),
            (std::vector<int32_t>{8262, 849, 403, 368, 2509, 32}));
  EXPECT_EQ(t.vocab_size(), 50277);
  EXPECT_TRUE(t.IsSpecial(0));
  EXPECT_FALSE(t.IsSpecial(50254));
}

TEST(TokenizerTest, RefusesInvalidUtf8WithTheOffset) {
  const Tokenizer& t = Load("gpt2");
  for (const std::string& bad : {std::string("ab\xff"), std::string("ok \xc3"),
                                 std::string("\xed\xa0\x80 surrogate"), std::string("x\xc0\xaf")}) {
    absl::StatusOr<std::vector<int32_t>> ids = t.Encode(bad);
    ASSERT_FALSE(ids.ok());
    EXPECT_EQ(ids.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(ids.status().message().find("not valid UTF-8"), std::string::npos);
  }
  EXPECT_NE(t.Encode("ab\xff").status().message().find("offset 2"), std::string::npos);
}

TEST(TokenizerTest, DecodeReplacesBrokenCharactersAndRefusesUnknownIds) {
  const Tokenizer& t = Load("gpt2");
  const std::vector<int32_t> clef = *t.Encode("𝄞");  // four bytes, more than one token
  ASSERT_GT(clef.size(), 1u);
  EXPECT_EQ(*t.Decode({clef.data(), 1}), "\xEF\xBF\xBD");  // a cut character becomes U+FFFD
  EXPECT_EQ(t.Decode(std::vector<int32_t>{50257}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(t.Decode(std::vector<int32_t>{-1}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*t.Decode(std::vector<int32_t>{50256, 15496}, /*skip_special_tokens=*/true), "Hello");
}

TEST(TokenizerTest, DecodeReplacesEachMaximalIllFormedSubpart) {
  const Tokenizer& t = Load("gpt2");
  // GPT-2 has one token per byte; find those of a few bytes that are not UTF-8 on their own.
  auto byte_token = [&](unsigned char byte) {
    for (int32_t id = 0; id < t.vocab_size(); ++id) {
      if (t.TokenBytes(id) == std::string(1, static_cast<char>(byte))) return id;
    }
    return -1;
  };
  const int32_t continuation = byte_token(0x80), lead = byte_token(0xE2), bad = byte_token(0xFF);
  const int32_t a = byte_token('a');
  // A lone continuation byte, a truncated 3-byte lead, an impossible byte: one U+FFFD each.
  EXPECT_EQ(*t.Decode(std::vector<int32_t>{a, continuation, lead, a, bad, a}),
            "a\xEF\xBF\xBD\xEF\xBF\xBD"
            "a\xEF\xBF\xBD"
            "a");
}

TEST(TokenizerTest, IncrementalDecoderHoldsBackPartialCharacters) {
  const Tokenizer& t = Load("gpt2");
  const std::vector<int32_t> ids = *t.Encode("a𝄞b");
  IncrementalDecoder decoder(t);
  std::vector<std::string> deltas;
  for (int32_t id : ids) deltas.push_back(*decoder.Add(id));
  EXPECT_EQ(deltas.front(), "a");
  std::string joined;
  for (const std::string& d : deltas) joined += d;
  EXPECT_EQ(joined + decoder.Finish(), "a𝄞b");
  EXPECT_NE(std::find(deltas.begin(), deltas.end(), ""), deltas.end());  // held back a while
}

TEST(TokenizerTest, RefusesTokenizersOutsideTheByteLevelBpeFamily) {
  nlohmann::json spec =
      nlohmann::json::parse(ReadText(testing::FixturesDir() + "/tokenizer/gpt2.json"));
  auto expect_refused = [](const nlohmann::json& s, const std::string& part) {
    absl::StatusOr<std::unique_ptr<Tokenizer>> t = Tokenizer::FromJson(s);
    ASSERT_FALSE(t.ok()) << part;
    EXPECT_NE(t.status().message().find(part), std::string::npos) << t.status();
  };
  nlohmann::json s = spec;
  s["model"]["type"] = "WordPiece";
  expect_refused(s, "only \"BPE\"");
  s = spec;
  s["normalizer"] = {{"type", "Lowercase"}};
  expect_refused(s, "normalizer \"Lowercase\"");
  s = spec;
  s["pre_tokenizer"] = {{"type", "Whitespace"}};
  expect_refused(s, "only ByteLevel");
  s = spec;
  s["decoder"] = {{"type", "WordPiece"}};
  expect_refused(s, "decoder");
  s = spec;
  s["post_processor"] = {{"type", "TemplateProcessing"}};
  expect_refused(s, "post_processor");
  s = spec;
  s["model"]["byte_fallback"] = true;
  expect_refused(s, "byte_fallback");
  s = spec;
  s["model"]["merges"][0] = "Ġt";
  expect_refused(s, "has no space");
  EXPECT_EQ(Tokenizer::Load("/nonexistent.json").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace ssm
