// The node daemon — what `cascade node` runs: one NodeServer until SIGINT or
// SIGTERM.
//
//   node --role comp|attn --listen HOST:PORT --cert PEM --key PEM --ca PEM
//        [-m MODEL [--mmap]] [--ready-file PATH] [--rpc-deadline-ms N]
//        [--idle-timeout-s N] [--max-message-mib N] [--max-sessions N]
//        [--max-session-mib N] [--max-state-mib N] [--max-positions N]
//        [--max-rows N] [--crl PEM]
//
// A CompNode loads MODEL at startup, like `cascade generate`: copied and
// packed for the GEMM (kernels.h), or with --mmap only memory-mapped (no
// copy: CompNodes on one host share the page cache; slower, OpenBLAS GEMM).
// It serves only sessions for that model; an AttnNode loads no weights. --ready-file receives the bound
// address (atomically) once the server accepts RPCs: with --listen
// 127.0.0.1:0 that is how a launcher learns the port. The --max-* flags are
// the node's limits (rpc/node_limits.h); --crl a revocation list from the
// cluster's CA: certificates it lists are refused, of clients and peers.
#pragma once

#include <string>
#include <vector>

#include "plan/plan.h"

namespace cascade {

struct NodeDaemonOptions {
  Role role = Role::kComp;
  std::string listen = "127.0.0.1:0";
  std::string cert, key, ca;  // PEM files: this node's certificate and key, the cluster's CA
  std::string model_path;     // CompNode only
  bool map_weights = false;   // --mmap
  std::string ready_file;     // optional
  int rpc_deadline_ms = 10'000;
  int idle_timeout_s = 600;
  int max_message_mib = 256;
  int max_sessions = 64;
  int max_session_mib = 4096;
  int max_state_mib = 0;  // 0: half of the machine's memory
  int max_positions = 32768;
  int max_rows = 8192;
  std::string crl;  // optional PEM revocation list
};

// Parses the flags above (without the program name or "node"). Throws Error
// naming the bad or missing flag.
NodeDaemonOptions parse_node_daemon_args(const std::vector<std::string>& args);
std::string node_daemon_usage();

// Serves until SIGINT/SIGTERM; returns the process exit status (0 after a
// signal, 1 after printing "error: ..." to stderr). Call it before the
// process starts other threads: it blocks those signals to wait for them.
int run_node_daemon(const NodeDaemonOptions& opts);

}  // namespace cascade
