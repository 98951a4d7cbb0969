#ifndef SSM_TESTS_SUPPORT_BYTE_TOKENIZER_H_
#define SSM_TESTS_SUPPORT_BYTE_TOKENIZER_H_

#include <string>

namespace ssm::testing {

// Writes a tokenizer.json for the fixtures' 256-token vocabulary: one token per byte (GPT-2's
// byte alphabet), no merges, no added tokens.
void WriteByteTokenizer(const std::string& path);

}  // namespace ssm::testing

#endif  // SSM_TESTS_SUPPORT_BYTE_TOKENIZER_H_
