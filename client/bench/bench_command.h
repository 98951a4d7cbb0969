#ifndef SSM_CLIENT_BENCH_BENCH_COMMAND_H_
#define SSM_CLIENT_BENCH_BENCH_COMMAND_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "client/bench/options.h"

namespace ssm::bench {

// Registers `ssm-client bench` and its flags (with the metric definitions in its help).
CLI::App* AddBenchCommand(CLI::App& app, Options& options);

// Runs the benchmark (or the sweep) against the server at `target` over options.connections
// connections; prints the table(s), writes the files asked for; returns the exit code.
int RunBench(const std::string& target,
             const std::shared_ptr<grpc::ChannelCredentials>& credentials, const Options& options);

}  // namespace ssm::bench

#endif  // SSM_CLIENT_BENCH_BENCH_COMMAND_H_
