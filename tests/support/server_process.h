#ifndef SSM_TESTS_SUPPORT_SERVER_PROCESS_H_
#define SSM_TESTS_SUPPORT_SERVER_PROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

namespace ssm::testing {

// A real ssm-server process on a free loopback port, for integration tests. Stopped (SIGTERM)
// when destroyed, if still running.
class ServerProcess {
 public:
  // Starts the server with the given extra flags and waits until it listens. On failure
  // port() is 0 and output() says why.
  explicit ServerProcess(const std::vector<std::string>& flags);
  ~ServerProcess();

  int port() const { return port_; }
  int metrics_port() const { return metrics_port_; }
  // GET http://127.0.0.1:<metrics port>/metrics; empty on failure.
  std::string ScrapeMetrics() const;
  std::string target() const { return "localhost:" + std::to_string(port_); }
  const std::string& output() const { return output_; }

  // Sends SIGTERM and waits; returns the exit code (-1 if it did not exit within the timeout).
  int Stop(int timeout_seconds = 30);

 private:
  bool ReadUntil(const std::string& marker, int timeout_seconds);

  pid_t pid_ = -1;
  int output_fd_ = -1;
  int port_ = 0;
  int metrics_port_ = 0;
  std::string output_;
};

}  // namespace ssm::testing

#endif  // SSM_TESTS_SUPPORT_SERVER_PROCESS_H_
