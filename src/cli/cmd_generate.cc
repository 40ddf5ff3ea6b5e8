// cascade generate: plaintext or in-process Cascade generation, streamed.
#include <cstdio>
#include <memory>
#include <sstream>

#include "cli/commands.h"
#include "client/generate.h"
#include "nodes/local_cluster.h"
#include "util/error.h"

namespace cascade::cli {

namespace {

struct GenerateArgs {
  ModelOptions model;
  GenerationArgs gen;
  std::string cascade;  // "ALPHA,BETA,C,DELTA"
  PlanSpec plan;
};


}  // namespace

void add_generate(CLI::App& app) {
  auto args = std::make_shared<GenerateArgs>();
  CLI::App* cmd = app.add_subcommand("generate", "generate text (plaintext, or --cascade in-process)");
  add_model_options(cmd, args->model);
  add_generation_options(cmd, args->gen);
  cmd->add_option("--cascade", args->cascade,
                  "run Cascade's roles in this process: ALPHA,BETA[,C,DELTA]");
  add_plan_options(cmd, args->plan);
  cmd->callback([args] {
    LoadedModel lm = load_with_progress(args->model);
    Tokenizer tok(std::move(*lm.vocab));
    args->gen.options();  // validate before any work
    if (args->cascade.empty()) {
      PlainBackend backend(lm.model);
      print_generation(backend, tok, args->gen);
      return;
    }
    PlanSpec spec = parse_cascade_flag(args->cascade, args->plan);
    Plan plan = Plan::make(spec, lm.model.cfg);
    fprintf(stderr, "cascade in-process: alpha=%d beta=%d (%d nodes), c=%d delta=%d, F=%d, client keeps [0,%d)\n",
            plan.alpha(), plan.beta(), plan.alpha() + plan.n_attn(), spec.c, spec.delta,
            spec.front_layers, plan.head());
    LocalCluster cluster(lm.model, plan);
    print_generation(cluster, tok, args->gen);
  });
}

}  // namespace cascade::cli
