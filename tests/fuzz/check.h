#ifndef SSM_TESTS_FUZZ_CHECK_H_
#define SSM_TESTS_FUZZ_CHECK_H_

#include <cstdlib>

namespace ssm::fuzz {

// A fuzz target's property check: a failure aborts, which libFuzzer reports as a finding and
// saves the input for.
inline void Check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace ssm::fuzz

#endif  // SSM_TESTS_FUZZ_CHECK_H_
