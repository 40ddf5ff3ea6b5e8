#include <unistd.h>

#include <chrono>
#include <sstream>
#include <cstdio>

#include "cli/commands.h"
#include "util/error.h"

namespace cascade::cli {

void add_model_options(CLI::App* cmd, ModelOptions& o) {
  cmd->add_option("-m,--model", o.model, "model file: GGUF, or llama2.c .bin")->required();
  cmd->add_option("-z,--tokenizer", o.tokenizer,
                  "llama2.c tokenizer.bin (default: tokenizer.bin or tok<vocab>.bin beside the model)");
  cmd->add_flag("--mmap", o.mmap, "keep weights mapped from the file (no copy; slower decode)");
  cmd->add_flag("--keep-quantized", o.keep_quantized,
                "keep Q4_0..Q8_0 / Q2_K..Q6_K weights quantized in memory (less RAM; reference-speed kernels)");
}

LoadedModel load_with_progress(const ModelOptions& o, bool require_tokenizer) {
  auto t0 = std::chrono::steady_clock::now();
  fprintf(stderr, "loading %s ...\n", o.model.c_str());
  LoadedModel lm = load_model(
      o.model, {.tokenizer_path = o.tokenizer,
                .require_tokenizer = require_tokenizer,
                .map_weights = o.mmap,
                .keep_quantized = o.keep_quantized});
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
  cmd->add_option_function<std::string>(
         "--protocol", [&s](const std::string& v) { s.protocol = parse_protocol(v); },
         "private (default: masked rows, merged attention) or paper (the published design, which leaks)");
}

GenerateOptions GenerationArgs::options() const {
  check(n >= 0, "-n must be >= 0");
  return {.max_new_tokens = n, .sampling = sampling, .stop_at_eos = !no_stop};
}

void add_generation_options(CLI::App* cmd, GenerationArgs& g) {
  cmd->add_option("-p,--prompt", g.prompt, "prompt text")->capture_default_str();
  cmd->add_option("-n,--n-tokens", g.n, "tokens to generate")->capture_default_str();
  cmd->add_option("-t,--temperature", g.sampling.temperature, "0 = greedy")->capture_default_str();
  cmd->add_option("--top-k", g.sampling.top_k, "0 = off")->capture_default_str();
  cmd->add_option("--top-p", g.sampling.top_p, "1 = off")->capture_default_str();
  cmd->add_option("-s,--seed", g.sampling.seed, "sampling seed")->capture_default_str();
  cmd->add_flag("--no-stop", g.no_stop, "do not stop at EOS/BOS");
}

void print_generation(Backend& backend, const Tokenizer& tok, const GenerationArgs& g) {
  const GenerateOptions opts = g.options();
  fwrite(g.prompt.data(), 1, g.prompt.size(), stdout);  // echo the prompt, as llama.cpp and run.c do
  GenerateResult r = generate(backend, tok, g.prompt, opts, [](const std::string& piece) {
    fwrite(piece.data(), 1, piece.size(), stdout);
    fflush(stdout);
  });
  printf("\n");
  fflush(stdout);  // the text ends before the timings on stderr start
  const int np = (int)r.prompt_ids.size(), nd = (int)r.new_ids.size();
  fprintf(stderr, "prefill: %d tokens in %.3f s (%.1f tokens/s)\n", np, r.prefill_seconds,
          np / std::max(r.prefill_seconds, 1e-9));
  if (nd > 1)
    fprintf(stderr, "decode: %d tokens in %.3f s (%.1f tokens/s)\n", nd - 1, r.decode_seconds,
            (nd - 1) / std::max(r.decode_seconds, 1e-9));
}

std::string self_binary() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  check(n > 0, "cannot find this program's path (/proc/self/exe)");
  return std::string(buf, n);
}

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

}  // namespace cascade::cli
