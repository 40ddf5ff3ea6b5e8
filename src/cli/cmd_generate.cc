// cascade generate: plaintext or in-process Cascade generation, streamed.
#include <cstdio>
#include <memory>
#include <sstream>

#include "cli/commands.h"
#include "client/generate.h"
#include "transport/local_cluster.h"
#include "util/error.h"

namespace cascade::cli {

namespace {

struct GenerateArgs {
  ModelOptions model;
  std::string prompt;
  int n = 64;
  SamplerConfig sampling;
  std::string cascade;  // "ALPHA,BETA,C,DELTA"
  PlanSpec plan;
  bool no_stop = false;
};

PlanSpec parse_cascade_flag(const std::string& s, PlanSpec spec) {
  std::vector<int> v;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      v.push_back(std::stoi(item));
    } catch (...) {
      throw Error("--cascade expects ALPHA,BETA[,C,DELTA] integers, got '" + s + "'");
    }
  }
  check(v.size() == 2 || v.size() == 4, "--cascade expects ALPHA,BETA[,C,DELTA], got '" + s + "'");
  spec.alpha = v[0];
  spec.beta = v[1];
  if (v.size() == 4) {
    spec.c = v[2];
    spec.delta = v[3];
  }
  return spec;
}

}  // namespace

// Shared by `generate` and `run`: prints the stream and the speed summary.
void print_generation(Backend& backend, const Tokenizer& tok, const std::string& prompt,
                      const GenerateOptions& opts) {
  fwrite(prompt.data(), 1, prompt.size(), stdout);  // echo the prompt, as llama.cpp and run.c do
  GenerateResult r = generate(backend, tok, prompt, opts, [](const std::string& piece) {
    fwrite(piece.data(), 1, piece.size(), stdout);
    fflush(stdout);
  });
  printf("\n");
  const int np = (int)r.prompt_ids.size(), nd = (int)r.new_ids.size();
  fprintf(stderr, "prefill: %d tokens in %.3f s (%.1f tokens/s)\n", np, r.prefill_seconds,
          np / std::max(r.prefill_seconds, 1e-9));
  if (nd > 1)
    fprintf(stderr, "decode: %d tokens in %.3f s (%.1f tokens/s)\n", nd - 1, r.decode_seconds,
            (nd - 1) / std::max(r.decode_seconds, 1e-9));
}

void add_generate(CLI::App& app) {
  auto args = std::make_shared<GenerateArgs>();
  CLI::App* cmd = app.add_subcommand("generate", "generate text (plaintext, or --cascade in-process)");
  add_model_options(cmd, args->model);
  cmd->add_option("-p,--prompt", args->prompt, "prompt text")->capture_default_str();
  cmd->add_option("-n,--n-tokens", args->n, "tokens to generate")->capture_default_str();
  cmd->add_option("-t,--temperature", args->sampling.temperature, "0 = greedy")->capture_default_str();
  cmd->add_option("--top-k", args->sampling.top_k, "0 = off")->capture_default_str();
  cmd->add_option("--top-p", args->sampling.top_p, "1 = off")->capture_default_str();
  cmd->add_option("-s,--seed", args->sampling.seed, "sampling seed")->capture_default_str();
  cmd->add_flag("--no-stop", args->no_stop, "do not stop at EOS/BOS");
  cmd->add_option("--cascade", args->cascade,
                  "run Cascade's roles in this process: ALPHA,BETA[,C,DELTA]");
  add_plan_options(cmd, args->plan);
  cmd->callback([args] {
    LoadedModel lm = load_with_progress(args->model);
    Tokenizer tok(std::move(*lm.vocab));
    GenerateOptions opts{.max_new_tokens = args->n, .sampling = args->sampling, .stop_at_eos = !args->no_stop};
    check(args->n >= 0, "-n must be >= 0");
    if (args->cascade.empty()) {
      PlainBackend backend(lm.model);
      print_generation(backend, tok, args->prompt, opts);
      return;
    }
    PlanSpec spec = parse_cascade_flag(args->cascade, args->plan);
    Plan plan = Plan::make(spec, lm.model.cfg);
    fprintf(stderr, "cascade in-process: alpha=%d beta=%d (%d nodes), c=%d delta=%d, F=%d, client keeps [0,%d)\n",
            plan.alpha(), plan.beta(), plan.alpha() + plan.n_attn(), spec.c, spec.delta,
            spec.front_layers, plan.head());
    LocalCluster cluster(lm.model, plan);
    print_generation(cluster, tok, args->prompt, opts);
  });
}

}  // namespace cascade::cli
