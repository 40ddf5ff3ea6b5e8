// cascade run: generate on a Cascade cluster of real node processes.
//
// Without --cluster it is the embedded default: it starts α CompNode and β²
// AttnNode processes of this same binary on loopback with throwaway
// certificates, generates, and shuts them down. With --cluster it connects
// to the nodes a manifest lists (mutual TLS with the manifest's CA). Either
// way generation goes through a FailoverBackend: when a node dies or hangs,
// a spare (--spares K embedded, the manifest's "spares" remote) takes its
// place and the tokens so far are replayed; one line on stderr says so.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "client/generate.h"
#include "net/manifest.h"
#include "rpc/failover_backend.h"
#include "rpc/local_process_cluster.h"
#include "util/error.h"

namespace cascade::cli {

void add_run(CLI::App& app) {
  struct Args {
    ModelOptions model;
    GenerationArgs gen;
    PlanSpec plan;
    std::string cluster;
    int spares = 0;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("run", "generate on Cascade nodes: an embedded local cluster, or --cluster");
  add_model_options(cmd, a->model);
  add_generation_options(cmd, a->gen);
  cmd->add_option("--cluster", a->cluster, "manifest (JSON) of remote nodes; its plan is used");
  add_plan_options(cmd, a->plan);
  cmd->add_option("--spares", a->spares,
                  "embedded cluster: also start K spare nodes of each role; a failed node's place goes to one")
      ->capture_default_str();
  cmd->callback([a] {
    a->gen.options();  // validate before any work
    check(a->spares >= 0 && a->spares <= 64, "--spares must be in 0..64");
    check(a->spares == 0 || a->cluster.empty(),
          "--spares starts spares of the embedded cluster; with --cluster list them under \"spares\" in the manifest");
    const FailoverBackend::Notice notice = [](const std::string& line) { fprintf(stderr, "%s\n", line.c_str()); };
    LoadedModel lm = load_with_progress(a->model);
    Tokenizer tok(std::move(*lm.vocab));
    if (!a->cluster.empty()) {
      ClusterManifest man = load_manifest(a->cluster);
      Plan plan = Plan::make(man.plan, lm.model.cfg);
      fprintf(stderr, "connecting to %d nodes of %s (%zu spares) ...\n", plan.alpha() + plan.n_attn(),
              a->cluster.c_str(), man.spares.size());
      auto cluster = FailoverBackend::from_manifest(lm.model, man, {}, notice);
      print_generation(*cluster, tok, a->gen);
      return;
    }
    Plan plan = Plan::make(a->plan, lm.model.cfg);
    const int n_nodes = plan.alpha() + plan.n_attn();
    fprintf(stderr, "starting an embedded cluster: %d CompNodes + %d AttnNodes (+ %d spares of each) on loopback, "
                    "mutual TLS (plan c=%d delta=%d F=%d, client keeps positions [0,%d)) ...\n",
            plan.alpha(), plan.n_attn(), a->spares, a->plan.c, a->plan.delta, a->plan.front_layers, plan.head());
    auto t0 = std::chrono::steady_clock::now();
    LocalProcessCluster nodes({.node_binary = self_binary(),
                               .model_path = a->model.model,
                               .n_comp = plan.alpha(),
                               .n_attn = plan.n_attn(),
                               .n_spares = a->spares,
                               .map_weights = a->model.mmap});
    fprintf(stderr, "%d nodes up in %.2f s\n", n_nodes + 2 * a->spares,
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    RemoteClusterOptions base;
    base.tls = nodes.client_identity();
    FailoverBackend cluster(lm.model, plan, nodes.spare_pool(lm.model, plan.spec()), base, notice);
    print_generation(cluster, tok, a->gen);
  });
}

}  // namespace cascade::cli
