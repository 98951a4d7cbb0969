#ifndef SSM_SERVER_SSM_RUN_COMMANDS_H_
#define SSM_SERVER_SSM_RUN_COMMANDS_H_

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "engine/backend.h"
#include "engine/backend_factory.h"
#include "engine/model.h"

namespace ssm::run {

// Each subcommand registers its options on the app and returns the action to run when chosen.
using Action = std::function<int()>;
Action AddGenerateCommand(CLI::App& app);
Action AddBenchCommand(CLI::App& app);
// tokenize, detokenize and tokenizer-bench, by name.
std::map<std::string, Action> AddTokenizerCommands(CLI::App& app);

}  // namespace ssm::run

#endif  // SSM_SERVER_SSM_RUN_COMMANDS_H_
