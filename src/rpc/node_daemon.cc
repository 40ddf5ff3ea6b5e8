#include "rpc/node_daemon.h"
#include "util/atomic_file.h"

#include <signal.h>
#include <spdlog/spdlog.h>

#include <cstdio>

#include "model/loader.h"
#include "net/certs.h"
#include "rpc/node_server.h"
#include "util/error.h"

namespace cascade {

std::string node_daemon_usage() {
  return "node --role comp|attn --listen HOST:PORT --cert PEM --key PEM --ca PEM [-m MODEL [--mmap]]\n"
         "     [--ready-file PATH] [--rpc-deadline-ms N] [--idle-timeout-s N]\n"
         "     [--max-message-mib N] [--max-sessions N] [--max-session-mib N] [--max-state-mib N]\n"
         "     [--max-positions N] [--max-rows N] [--crl PEM]";
}

NodeDaemonOptions parse_node_daemon_args(const std::vector<std::string>& args) {
  NodeDaemonOptions o;
  bool have_role = false;
  auto int_value = [](const std::string& flag, const std::string& v) {
    try {
      size_t used = 0;
      const int x = std::stoi(v, &used);
      if (used == v.size() && x > 0) return x;
    } catch (const std::exception&) {
    }
    throw Error("node: " + flag + " needs a positive integer, not \"" + v + "\"");
  };
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& f = args[i];
    if (f == "--mmap") {
      o.map_weights = true;
      continue;
    }
    check(i + 1 < args.size(), "node: " + f + " needs a value\nusage: " + node_daemon_usage());
    const std::string& v = args[++i];
    if (f == "--role") {
      check(v == "comp" || v == "attn", "node: --role is comp or attn, not \"" + v + "\"");
      o.role = v == "comp" ? Role::kComp : Role::kAttn;
      have_role = true;
    } else if (f == "--listen") o.listen = v;
    else if (f == "--cert") o.cert = v;
    else if (f == "--key") o.key = v;
    else if (f == "--ca") o.ca = v;
    else if (f == "-m" || f == "--model") o.model_path = v;
    else if (f == "--ready-file") o.ready_file = v;
    else if (f == "--rpc-deadline-ms") o.rpc_deadline_ms = int_value(f, v);
    else if (f == "--idle-timeout-s") o.idle_timeout_s = int_value(f, v);
    else if (f == "--max-message-mib") o.max_message_mib = int_value(f, v);
    else if (f == "--max-sessions") o.max_sessions = int_value(f, v);
    else if (f == "--max-session-mib") o.max_session_mib = int_value(f, v);
    else if (f == "--max-state-mib") o.max_state_mib = int_value(f, v);
    else if (f == "--max-positions") o.max_positions = int_value(f, v);
    else if (f == "--max-rows") o.max_rows = int_value(f, v);
    else if (f == "--crl") o.crl = v;
    else throw Error("node: unknown flag " + f + "\nusage: " + node_daemon_usage());
  }
  check(have_role, "node: --role comp|attn is required");
  check(!o.cert.empty() && !o.key.empty() && !o.ca.empty(), "node: --cert, --key and --ca are required (mutual TLS)");
  check(o.role != Role::kComp || !o.model_path.empty(), "node: a CompNode needs -m MODEL");
  check(o.max_message_mib <= 2047, "node: --max-message-mib is at most 2047 (gRPC's limit)");
  return o;
}

int run_node_daemon(const NodeDaemonOptions& o) {
  // Block the stop signals in every thread from here on; sigwait takes them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  try {
    std::optional<LoadedModel> model;
    if (o.role == Role::kComp) model = load_model(o.model_path, {.require_tokenizer = false, .map_weights = o.map_weights});
    NodeServerOptions so;
    so.role = o.role;
    so.model = model ? &model->model : nullptr;
    so.tls = load_tls_identity(o.ca, o.cert, o.key, o.crl);
    so.listen = o.listen;
    so.link.rpc_deadline = std::chrono::milliseconds(o.rpc_deadline_ms);
    so.link.max_message_bytes = o.max_message_mib << 20;
    so.idle_timeout = std::chrono::seconds(o.idle_timeout_s);
    so.limits.max_sessions = o.max_sessions;
    so.limits.max_session_bytes = (int64_t)o.max_session_mib << 20;
    so.limits.max_state_bytes = (int64_t)o.max_state_mib << 20;
    so.limits.max_positions = o.max_positions;
    so.limits.max_rows = o.max_rows;
    NodeServer server(so);
    if (!o.ready_file.empty()) write_file_atomic(o.ready_file, server.address() + "\n");
    spdlog::info("{} listening on {}{}", o.role == Role::kComp ? "CompNode" : "AttnNode", server.address(),
                 model ? " serving model " + model->model.file_sha256.substr(0, 16) : std::string());
    int sig = 0;
    sigwait(&stop, &sig);
    spdlog::info("signal {}: shutting down", sig);
    server.shutdown();
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}

}  // namespace cascade
