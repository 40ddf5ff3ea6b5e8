// cascade — private LLM inference across untrusted machines.
#include <cstdio>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "kernels/isa.h"
#include "rpc/node_daemon.h"
#include "util/error.h"
#include "util/process_tuning.h"

int main(int argc, char** argv) {
  cascade::tune_process();
  // A bad CASCADE_ISA fails here, before any work, not at the first kernel.
  try {
    cascade::active_isa();
  } catch (const std::exception& e) {
    fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  // `cascade node ...` is a daemon with its own flags; it must start before
  // any other thread exists (it waits for SIGTERM with sigwait).
  if (argc >= 2 && std::string(argv[1]) == "node") {
    std::vector<std::string> args(argv + 2, argv + argc);
    if (args.empty() || args[0] == "-h" || args[0] == "--help") {
      printf("%s", cascade::node_daemon_usage().c_str());
      return args.empty() ? 1 : 0;
    }
    try {
      return cascade::run_node_daemon(cascade::parse_node_daemon_args(args));
    } catch (const std::exception& e) {
      fprintf(stderr, "error: %s\n", e.what());
      return 1;
    }
  }
  CLI::App app{"cascade: private LLM inference by token sharding"};
  app.require_subcommand(1);
  cascade::cli::add_generate(app);
  cascade::cli::add_plan(app);
  cascade::cli::add_synth(app);
  cascade::cli::add_bench(app);
  cascade::cli::add_audit(app);
  cascade::cli::add_run(app);
  cascade::cli::add_cert(app);
  cascade::cli::add_serve(app);
  app.add_subcommand("node", "a CompNode or AttnNode daemon (cascade node --help)");
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
