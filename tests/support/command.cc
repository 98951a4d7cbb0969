#include "tests/support/command.h"

#include <sys/wait.h>

#include <cstdio>
#include <regex>

namespace ssm::testing {

CommandOutcome RunCommand(const std::string& binary, const std::string& args) {
  const std::string escaped = std::regex_replace(binary + " " + args, std::regex("\""), "\\\"");
  FILE* pipe = popen(("bash -c \"" + escaped + "\" 2>&1").c_str(), "r");
  std::string output;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  const int status = pclose(pipe);
  return {WEXITSTATUS(status), output};
}

std::string JoinIds(const std::vector<int32_t>& ids) {
  std::string joined;
  for (int32_t id : ids) joined += (joined.empty() ? "" : ",") + std::to_string(id);
  return joined;
}

}  // namespace ssm::testing
