// cascade run: generate on a Cascade cluster of real node processes.
//
// Without --cluster it is the embedded default: it starts α CompNode and β²
// AttnNode processes of this same binary on loopback with throwaway
// certificates, generates, and shuts them down. With --cluster it connects
// to the nodes a manifest lists (mutual TLS with the manifest's CA).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "client/generate.h"
#include "net/manifest.h"
#include "rpc/local_process_cluster.h"
#include "util/error.h"

namespace cascade::cli {

void add_run(CLI::App& app) {
  struct Args {
    ModelOptions model;
    GenerationArgs gen;
    PlanSpec plan;
    std::string cluster;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("run", "generate on Cascade nodes: an embedded local cluster, or --cluster");
  add_model_options(cmd, a->model);
  add_generation_options(cmd, a->gen);
  cmd->add_option("--cluster", a->cluster, "manifest (JSON) of remote nodes; its plan is used");
  add_plan_options(cmd, a->plan);
  cmd->callback([a] {
    a->gen.options();  // validate before any work
    LoadedModel lm = load_with_progress(a->model);
    Tokenizer tok(std::move(*lm.vocab));
    if (!a->cluster.empty()) {
      ClusterManifest man = load_manifest(a->cluster);
      Plan plan = Plan::make(man.plan, lm.model.cfg);
      fprintf(stderr, "connecting to %d nodes of %s ...\n", plan.alpha() + plan.n_attn(), a->cluster.c_str());
      auto cluster = RemoteCluster::from_manifest(lm.model, man);
      print_generation(*cluster, tok, a->gen);
      return;
    }
    Plan plan = Plan::make(a->plan, lm.model.cfg);
    const int n_nodes = plan.alpha() + plan.n_attn();
    fprintf(stderr, "starting an embedded cluster: %d CompNodes + %d AttnNodes on loopback, mutual TLS "
                    "(plan c=%d delta=%d F=%d, client keeps positions [0,%d)) ...\n",
            plan.alpha(), plan.n_attn(), a->plan.c, a->plan.delta, a->plan.front_layers, plan.head());
    auto t0 = std::chrono::steady_clock::now();
    LocalProcessCluster nodes({.node_binary = self_binary(),
                               .model_path = a->model.model,
                               .n_comp = plan.alpha(),
                               .n_attn = plan.n_attn(),
                               .map_weights = a->model.mmap});
    fprintf(stderr, "%d nodes up in %.2f s\n", n_nodes,
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    auto cluster = nodes.connect(lm.model, plan);
    print_generation(*cluster, tok, a->gen);
  });
}

}  // namespace cascade::cli
