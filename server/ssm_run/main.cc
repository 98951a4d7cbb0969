// ssm-run: the offline front end over the engine. One process, no server: generate from a
// model folder, benchmark the engine on a random model of a published shape, or tokenize.
#include <cstdio>
#include <map>

#include "server/ssm_run/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"ssm-run: run Mamba models offline"};
  app.require_subcommand(1);
  std::map<std::string, ssm::run::Action> actions = {
      {"generate", ssm::run::AddGenerateCommand(app)},
      {"bench", ssm::run::AddBenchCommand(app)},
  };
  actions.merge(ssm::run::AddTokenizerCommands(app));
  CLI11_PARSE(app, argc, argv);
  return actions.at(app.get_subcommands().front()->get_name())();
}
