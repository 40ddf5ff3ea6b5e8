// cascade plan: print a shard plan's views as a table and JSON.
#include <cstdio>
#include <fstream>
#include <memory>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "plan/advise.h"
#include "util/atomic_file.h"

namespace cascade::cli {

void add_plan(CLI::App& app) {
  struct Args {
    ModelOptions model;
    PlanSpec plan;
    std::string json_out;
    int coalition = 2;
    double target = 0;
    int max_nodes = 80, prompt = 256;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("plan", "show which positions every node sees, and check c-delta");
  add_model_options(cmd, args->model);
  add_plan_options(cmd, args->plan);
  cmd->add_option("--horizon", args->plan.horizon, "positions to check (default: min(context, 4096))");
  cmd->add_option("--json", args->json_out, "also write the plan as JSON to this file");
  cmd->add_option("--coalition", args->coalition, "report the worst coalitions up to this size")
      ->capture_default_str();
  cmd->add_option("--target", args->target,
                  "advise: suggest plans where no node sees more than this share of the positions (e.g. 0.25)");
  cmd->add_option("--max-nodes", args->max_nodes, "advise: at most this many nodes")->capture_default_str();
  cmd->add_option("--prompt-tokens", args->prompt, "advise: request length for the client's compute share")
      ->capture_default_str();
  cmd->callback([args] {
    LoadedModel lm = load_with_progress(args->model, false);
    if (args->target > 0) {
      printf("plans with every node at or under %.3f of the positions (F=%d, c=2*delta, client head=delta):\n",
             args->target, args->plan.front_layers);
      printf("alpha  beta  c  delta  F  head  nodes  worst node  worst pair  client compute\n");
      for (const PlanAdvice& a : advise_plans(lm.model.cfg, args->target, args->max_nodes, args->plan.front_layers,
                                              args->prompt))
        printf("%5d  %4d  %d  %5d  %d  %4d  %5d  %10.3f  %10.3f  %13.1f%%\n", a.spec.alpha, a.spec.beta, a.spec.c,
               a.spec.delta, a.spec.front_layers, a.head, a.nodes, a.single_exposure, a.pair_exposure,
               100 * a.client_share);
      printf("exposure = share of private positions whose rows a node receives. What a node recovers is more: the\n"
             "model's prior and, at a CompNode, the merged attention output of its rows fill in the gaps (default\n"
             "plan, stories260K: view 0.25, recovered 68-71%%; docs/PRIVACY.md). Measure a chosen plan with 'cascade audit'.\n");
      return;
    }
    Plan plan = Plan::make(args->plan, lm.model.cfg);
    printf("%s", plan.table().c_str());
    for (int k = 2; k <= args->coalition; ++k) {
      Plan::Coalition c = plan.worst_coalition(k);
      printf("worst coalition of %d:", k);
      for (auto& m : c.members) printf(" %s", m.name(plan.beta()).c_str());
      if (c.stats.min_gap == INT32_MAX)
        printf("  -> every position from %d on, no gap\n", c.stats.first);
      else
        printf("  -> max run %d, min gap %d\n", c.stats.max_run, c.stats.min_gap);
    }
    if (!args->json_out.empty()) {
      write_file_atomic(args->json_out, plan.to_json(args->coalition).dump(2) + "\n");
      fprintf(stderr, "wrote %s\n", args->json_out.c_str());
    }
  });
}

}  // namespace cascade::cli
