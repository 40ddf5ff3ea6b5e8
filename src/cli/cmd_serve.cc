// cascade serve: an OpenAI-compatible HTTP API (serve/completion_server.h)
// over the plaintext engine, an embedded cluster of node processes
// (--cascade, as `cascade run` starts), or remote nodes (--cluster).
//
// Every option is checked, and the port bound, before the model loads; the
// model's chat template is read from its GGUF metadata (or --chat-template).
// /health answers 503 while the model loads and while a node is unreachable.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <thread>

#include "cli/commands.h"
#include "net/manifest.h"
#include "net/tls.h"
#include "rpc/local_process_cluster.h"
#include "rpc/remote_cluster.h"
#include "serve/completion_server.h"
#include "util/error.h"

namespace cascade::cli {

namespace {

// True when a TCP connection to HOST:PORT opens within timeout_ms.
bool tcp_reachable(const std::string& address, int timeout_ms) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos) return false;
  std::string host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  addrinfo hints{}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(host.c_str(), address.substr(colon + 1).c_str(), &hints, &res) != 0 || !res) return false;
  bool ok = false;
  const int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd >= 0) {
    if (connect(fd, res->ai_addr, res->ai_addrlen) == 0) {
      ok = true;
    } else if (errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      int err = 0;
      socklen_t len = sizeof err;
      ok = poll(&p, 1, timeout_ms) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
    }
    close(fd);
  }
  freeaddrinfo(res);
  return ok;
}

// "" when every node answers a TCP connect, else which do not.
std::string probe_nodes(const std::vector<std::pair<std::string, std::string>>& nodes) {
  std::string down;
  for (const auto& [name, address] : nodes)
    if (!tcp_reachable(address, 300)) down += (down.empty() ? "" : ", ") + name + " at " + address;
  return down.empty() ? "" : "unreachable: " + down;
}

}  // namespace

void add_serve(CLI::App& app) {
  struct Args {
    ModelOptions model;
    std::string listen = "127.0.0.1:8080";
    std::string cascade;
    std::string cluster;
    PlanSpec plan;
    std::string alias;
    std::string chat_template;
    ServerOptions server;
    bool quiet = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "serve", "OpenAI-compatible HTTP API: /v1/chat/completions, /v1/completions, /v1/models (docs/API.md)");
  add_model_options(cmd, a->model);
  cmd->add_option("--listen", a->listen, "HOST:PORT (port 0: any free port)")->capture_default_str();
  cmd->add_option("--cascade", a->cascade,
                  "serve through an embedded cluster of node processes on loopback: ALPHA,BETA[,C,DELTA]");
  cmd->add_option("--cluster", a->cluster, "serve through the remote nodes of this manifest");
  add_plan_options(cmd, a->plan);
  cmd->add_option("--alias", a->alias, "the model's name in the API (default: the file's name without extension)");
  cmd->add_option("--chat-template", a->chat_template,
                  "chat format: " + ChatTemplate::choices() + " (default: detected from the GGUF; plain for llama2.c)");
  cmd->add_option("--parallel", a->server.parallel, "requests generating at once, each its own session")
      ->capture_default_str();
  cmd->add_option("--queue", a->server.max_waiting, "requests that may wait for a slot; more get 429")
      ->capture_default_str();
  cmd->add_option("--api-key", a->server.api_key, "require 'Authorization: Bearer KEY' on /v1/* and /tokenize")
      ->envname("CASCADE_API_KEY");
  cmd->add_option("--cors-origin", a->server.cors_origin, "send Access-Control-Allow-Origin: ORIGIN (e.g. '*')");
  cmd->add_flag("--quiet", a->quiet, "no line per request on stderr");
  cmd->callback([a] {
    // Everything that can be wrong with the options, before the model loads.
    check(a->cascade.empty() || a->cluster.empty(), "give --cascade or --cluster, not both");
    check(a->server.parallel >= 1 && a->server.parallel <= 256, "--parallel must be in 1..256");
    check(a->server.max_waiting >= 0 && a->server.max_waiting <= 4096, "--queue must be in 0..4096");
    const auto colon = a->listen.rfind(':');
    check(colon != std::string::npos, "--listen must be HOST:PORT, got '" + a->listen + "'");
    int port = -1;
    try {
      size_t used = 0;
      port = std::stoi(a->listen.substr(colon + 1), &used);
      if (used != a->listen.size() - colon - 1) port = -1;
    } catch (...) {
    }
    check(port >= 0 && port <= 65535, "--listen must be HOST:PORT with a port in 0..65535, got '" + a->listen + "'");
    check(std::filesystem::is_regular_file(a->model.model), "model file '" + a->model.model + "' does not exist");
    std::optional<PlanSpec> cascade_spec;
    if (!a->cascade.empty()) cascade_spec = parse_cascade_flag(a->cascade, a->plan);
    std::unique_ptr<ClusterManifest> manifest;
    if (!a->cluster.empty()) manifest = std::make_unique<ClusterManifest>(load_manifest(a->cluster));
    std::string template_why;
    const ChatTemplate chat = ChatTemplate::for_model(a->model.model, a->chat_template, &template_why);
    const std::string id = a->alias.empty() ? std::filesystem::path(a->model.model).stem().string() : a->alias;
    check(!id.empty(), "--alias must not be empty");
    a->server.log_requests = !a->quiet;

    // SIGINT/SIGTERM stop the server; a thread waits for them.
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

    CompletionServer server(a->server);
    const int bound = server.bind(a->listen.substr(0, colon), port);
    fprintf(stderr, "listening on http://%s:%d (loading the model; /health is 503 until ready)\n",
            a->listen.substr(0, colon).c_str(), bound);
    std::thread http([&server] { server.serve(); });
    std::thread stopper([&server, sigs] {
      int sig = 0;
      sigwait(&sigs, &sig);
      server.stop();
    });
    // However the callback ends (a bad model throws), stop and join both threads.
    struct Joiner {
      CompletionServer& server;
      std::thread& http;
      std::thread& stopper;
      ~Joiner() {
        server.stop();
        if (http.joinable()) http.join();
        pthread_kill(stopper.native_handle(), SIGTERM);
        stopper.join();
      }
    } joiner{server, http, stopper};

    LoadedModel lm = load_with_progress(a->model);
    Tokenizer tok(std::move(*lm.vocab));
    std::unique_ptr<Plan> plan;
    std::unique_ptr<LocalProcessCluster> nodes;
    std::vector<std::pair<std::string, std::string>> node_addresses;  // (name, address) for /health
    BackendFactory factory;
    std::string mode = "plaintext engine";
    if (manifest) {
      plan = std::make_unique<Plan>(Plan::make(manifest->plan, lm.model.cfg));
      for (const auto& [nid, address] : manifest->nodes) node_addresses.push_back({identity_name(nid), address});
      factory = [&] { return std::unique_ptr<Backend>(RemoteCluster::from_manifest(lm.model, *manifest)); };
      mode = "remote cluster of " + a->cluster;
    } else if (cascade_spec) {
      plan = std::make_unique<Plan>(Plan::make(*cascade_spec, lm.model.cfg));
      fprintf(stderr, "starting an embedded cluster: %d CompNodes + %d AttnNodes on loopback, mutual TLS ...\n",
              plan->alpha(), plan->n_attn());
      nodes = std::make_unique<LocalProcessCluster>(LocalProcessClusterOptions{.node_binary = self_binary(),
                                                                              .model_path = a->model.model,
                                                                              .n_comp = plan->alpha(),
                                                                              .n_attn = plan->n_attn(),
                                                                              .map_weights = a->model.mmap});
      for (int i = 0; i < plan->alpha(); ++i)
        node_addresses.push_back({"comp" + std::to_string(i), nodes->address(Role::kComp, i)});
      for (int i = 0; i < plan->n_attn(); ++i)
        node_addresses.push_back({"attn" + std::to_string(i), nodes->address(Role::kAttn, i)});
      factory = [&] { return std::unique_ptr<Backend>(nodes->connect(lm.model, *plan)); };
      mode = "embedded cluster of node processes";
    } else {
      factory = [&] { return std::unique_ptr<Backend>(std::make_unique<PlainBackend>(lm.model)); };
    }
    if (!node_addresses.empty()) server.set_health_probe([node_addresses] { return probe_nodes(node_addresses); });
    server.ready({.id = id,
                  .tok = &tok,
                  .context_length = lm.model.cfg.context_length,
                  .chat = chat,
                  .make_backend = factory});
    fprintf(stderr, "ready: model '%s' (context %d, chat template %s: %s) on the %s\n", id.c_str(),
            lm.model.cfg.context_length, ChatTemplate::name(chat.family()).c_str(), template_why.c_str(),
            mode.c_str());
    while (!server.stopped()) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    http.join();  // in-flight requests end before the model and nodes go
  });
}

}  // namespace cascade::cli
