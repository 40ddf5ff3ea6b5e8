#include <chrono>
#include <cstdio>

#include "cli/commands.h"

namespace cascade::cli {

void add_model_options(CLI::App* cmd, ModelOptions& o) {
  cmd->add_option("-m,--model", o.model, "model file: GGUF, or llama2.c .bin")->required();
  cmd->add_option("-z,--tokenizer", o.tokenizer,
                  "llama2.c tokenizer.bin (default: tokenizer.bin or tok<vocab>.bin beside the model)");
}

LoadedModel load_with_progress(const ModelOptions& o, bool require_tokenizer) {
  auto t0 = std::chrono::steady_clock::now();
  fprintf(stderr, "loading %s ...\n", o.model.c_str());
  LoadedModel lm = load_model(o.model, {.tokenizer_path = o.tokenizer, .require_tokenizer = require_tokenizer});
  const auto& c = lm.model.cfg;
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fprintf(stderr, "loaded %s: %s, %d blocks, d=%d, %d heads (%d kv), ffn %d, vocab %d, %.1fM params in %.2f s\n",
          o.model.c_str(), c.arch == Arch::kGPT2 ? "gpt2" : "llama", c.n_layers, c.dim, c.n_heads,
          c.n_kv_heads, c.hidden_dim, c.vocab_size, lm.model.n_params() / 1e6, s);
  return lm;
}

void add_plan_options(CLI::App* cmd, PlanSpec& s) {
  cmd->add_option("--alpha", s.alpha, "CompNodes")->capture_default_str();
  cmd->add_option("--beta", s.beta, "attention shards (beta^2 AttnNodes)")->capture_default_str();
  cmd->add_option("--c", s.c, "max run of positions a node may see (0: no c-delta requirement)")
      ->capture_default_str();
  cmd->add_option("--delta", s.delta, "min gap between runs a node sees")->capture_default_str();
  cmd->add_option("-F,--front", s.front_layers, "blocks the client runs itself")->capture_default_str();
  cmd->add_option("--public-prefix", s.public_prefix, "positions known to everyone (BOS)")
      ->capture_default_str();
  cmd->add_option("--client-head", s.client_head,
                  "first private positions kept at the client (-1: delta)")
      ->capture_default_str();
}

}  // namespace cascade::cli
