// cascade — private LLM inference across untrusted machines.
#include <cstdio>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "util/error.h"

int main(int argc, char** argv) {
  CLI::App app{"cascade: private LLM inference by token sharding"};
  app.require_subcommand(1);
  cascade::cli::add_generate(app);
  cascade::cli::add_plan(app);
  cascade::cli::add_synth(app);
  cascade::cli::add_bench(app);
  cascade::cli::add_audit(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
