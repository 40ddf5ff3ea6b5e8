// cascade_node_test_bin — the node daemon alone, for the transport tests
// (LocalProcessCluster forks it the way it forks `cascade node`).
#include <string>
#include <vector>

#include "rpc/node_daemon.h"
#include "util/error.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "node") args.erase(args.begin());
  try {
    return cascade::run_node_daemon(cascade::parse_node_daemon_args(args));
  } catch (const cascade::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
}
