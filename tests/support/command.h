#ifndef SSM_TESTS_SUPPORT_COMMAND_H_
#define SSM_TESTS_SUPPORT_COMMAND_H_

#include <cstdint>
#include <string>
#include <vector>

namespace ssm::testing {

struct CommandOutcome {
  int exit_code;
  std::string output;  // stdout and stderr together
};

// Runs `binary args` through bash, so args may redirect stdin or stdout, use here-strings and
// process substitution, as a user at a shell would.
CommandOutcome RunCommand(const std::string& binary, const std::string& args);

// "1,2,3": ids as the command-line tools take them.
std::string JoinIds(const std::vector<int32_t>& ids);

}  // namespace ssm::testing

#endif  // SSM_TESTS_SUPPORT_COMMAND_H_
