// cascade serve: an OpenAI-style HTTP API (serve/completion_server.h) over
// the plaintext engine, in-process Cascade (--cascade), or remote nodes
// (--cluster). /health answers 503 while the model loads.
#include <csignal>
#include <chrono>
#include <cstdio>
#include <memory>
#include <thread>

#include "cli/commands.h"
#include "net/manifest.h"
#include "serve/completion_server.h"
#include "transport/local_cluster.h"
#include "transport/remote_cluster.h"
#include "util/error.h"

namespace cascade::cli {

void add_serve(CLI::App& app) {
  struct Args {
    ModelOptions model;
    std::string listen = "127.0.0.1:8080";
    std::string cascade;
    std::string cluster;
    PlanSpec plan;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("serve", "HTTP API: /v1/completions (SSE streaming), /health, /metrics");
  add_model_options(cmd, a->model);
  cmd->add_option("--listen", a->listen, "HOST:PORT (port 0: any free port)")->capture_default_str();
  cmd->add_option("--cascade", a->cascade, "serve through Cascade's roles in this process: ALPHA,BETA[,C,DELTA]");
  cmd->add_option("--cluster", a->cluster, "serve through the remote nodes of this manifest");
  add_plan_options(cmd, a->plan);
  cmd->callback([a] {
    check(a->cascade.empty() || a->cluster.empty(), "give --cascade or --cluster, not both");
    const auto colon = a->listen.rfind(':');
    check(colon != std::string::npos, "--listen must be HOST:PORT, got '" + a->listen + "'");
    int port = 0;
    try {
      port = std::stoi(a->listen.substr(colon + 1));
    } catch (...) {
      throw Error("--listen must be HOST:PORT, got '" + a->listen + "'");
    }
    // SIGINT/SIGTERM stop the server; a thread waits for them.
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

    CompletionServer server;
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
        http.join();
        pthread_kill(stopper.native_handle(), SIGTERM);
        stopper.join();
      }
    } joiner{server, http, stopper};

    LoadedModel lm = load_with_progress(a->model);
    Tokenizer tok(std::move(*lm.vocab));
    std::unique_ptr<Plan> plan;
    std::unique_ptr<ClusterManifest> manifest;
    BackendFactory factory;
    if (!a->cluster.empty()) {
      manifest = std::make_unique<ClusterManifest>(load_manifest(a->cluster));
      plan = std::make_unique<Plan>(Plan::make(manifest->plan, lm.model.cfg));
      factory = [&] { return std::unique_ptr<Backend>(RemoteCluster::from_manifest(lm.model, *manifest)); };
    } else if (!a->cascade.empty()) {
      plan = std::make_unique<Plan>(Plan::make(parse_cascade_flag(a->cascade, a->plan), lm.model.cfg));
      factory = [&] { return std::unique_ptr<Backend>(std::make_unique<LocalCluster>(lm.model, *plan)); };
    } else {
      factory = [&] { return std::unique_ptr<Backend>(std::make_unique<PlainBackend>(lm.model)); };
    }
    server.ready(a->model.model, &tok, factory);
    fprintf(stderr, "ready: %s\n", a->cluster.empty() ? (a->cascade.empty() ? "plaintext engine" : "in-process cascade")
                                                      : "remote cascade cluster");
    while (!server.stopped()) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  });
}

}  // namespace cascade::cli
