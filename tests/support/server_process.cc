#include "tests/support/server_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <regex>
#include <thread>

namespace ssm::testing {

ServerProcess::ServerProcess(const std::vector<std::string>& flags) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return;
  std::vector<std::string> args = {SSM_SERVER_BINARY, "--port",         "0", "--listen",
                                   "127.0.0.1",       "--metrics-port", "0"};
  args.insert(args.end(), flags.begin(), flags.end());
  pid_ = fork();
  if (pid_ == 0) {
    dup2(pipe_fds[1], STDOUT_FILENO);
    dup2(pipe_fds[1], STDERR_FILENO);
    close(pipe_fds[0]);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(pipe_fds[1]);
  output_fd_ = pipe_fds[0];
  fcntl(output_fd_, F_SETFL, O_NONBLOCK);
  if (!ReadUntil("serving on", 30)) return;
  std::smatch match;
  if (std::regex_search(output_, match, std::regex(R"(serving on [0-9.]+:([0-9]+))"))) {
    port_ = std::stoi(match[1]);
  }
  if (std::regex_search(output_, match, std::regex(R"(metrics on [0-9.]+:([0-9]+))"))) {
    metrics_port_ = std::stoi(match[1]);
  }
}

std::string ServerProcess::ScrapeMetrics() const {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(metrics_port_);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
    const std::string request = "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n";
    if (write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
      char buffer[4096];
      for (ssize_t n; (n = read(fd, buffer, sizeof buffer)) > 0;) response.append(buffer, n);
    }
  }
  close(fd);
  return response;
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) Stop();
  if (output_fd_ >= 0) close(output_fd_);
}

bool ServerProcess::ReadUntil(const std::string& marker, int timeout_seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  while (output_.find(marker) == std::string::npos) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    pollfd p{output_fd_, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char buffer[4096];
    const ssize_t n = read(output_fd_, buffer, sizeof buffer);
    if (n == 0) return false;  // the process exited
    if (n > 0) output_.append(buffer, n);
  }
  return true;
}

int ServerProcess::Stop(int timeout_seconds) {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  int status = 0;
  while (waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      pid_ = -1;
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  pid_ = -1;
  // The process is gone: read what is left of its output up to the end of the pipe.
  fcntl(output_fd_, F_SETFL, 0);
  char buffer[4096];
  for (ssize_t n; (n = read(output_fd_, buffer, sizeof buffer)) > 0;) output_.append(buffer, n);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace ssm::testing
