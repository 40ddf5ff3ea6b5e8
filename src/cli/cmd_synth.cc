// cascade synth: write a GGUF of a realistic shape with random weights.
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "model/synth.h"
#include "util/error.h"

namespace cascade::cli {

void add_synth(CLI::App& app) {
  struct Args {
    std::string preset = "llama-100m";
    std::string out;
    std::string tokenizer_from;
    std::string type = "f32";
    int layers = 0, dim = 0, hidden = 0, heads = 0, kv_heads = 0, context = 0, vocab = 0;
    uint64_t seed = 1;
  };
  auto a = std::make_shared<Args>();
  std::string presets;
  for (auto& n : synth_preset_names()) presets += (presets.empty() ? "" : ", ") + n;
  CLI::App* cmd = app.add_subcommand("synth", "write a GGUF with random weights and a real tokenizer");
  cmd->add_option("--preset", a->preset, "shape: " + presets)->capture_default_str();
  cmd->add_option("-o,--out", a->out, "output .gguf")->required();
  cmd->add_option("--tokenizer-from", a->tokenizer_from, "copy the tokenizer of this GGUF");
  cmd->add_option("--type", a->type,
                  "weight type: f32, f16, bf16, q4_0, q4_1, q5_0, q5_1, q8_0, q2_k, q3_k, q4_k, q5_k, q6_k, "
                  "or q4_k_m (Q4_K with Q6_K where llama-quantize's Q4_K_M puts it)")
      ->capture_default_str();
  cmd->add_option("--layers", a->layers, "override block count");
  cmd->add_option("--dim", a->dim, "override embedding width");
  cmd->add_option("--hidden", a->hidden, "override FFN width");
  cmd->add_option("--heads", a->heads, "override query heads");
  cmd->add_option("--kv-heads", a->kv_heads, "override kv heads");
  cmd->add_option("--context", a->context, "override context length");
  cmd->add_option("--vocab", a->vocab, "vocab size when no tokenizer is copied");
  cmd->add_option("--seed", a->seed, "weight seed")->capture_default_str();
  cmd->callback([a] {
    SynthSpec s = synth_preset(a->preset);
    if (a->layers) s.n_layers = a->layers;
    if (a->dim) s.dim = a->dim;
    if (a->hidden) s.hidden_dim = a->hidden;
    if (a->heads) s.n_heads = a->heads;
    if (a->kv_heads) s.n_kv_heads = a->kv_heads;
    if (a->context) s.context_length = a->context;
    if (a->vocab) s.vocab_size_if_no_tokenizer = a->vocab;
    if (!a->tokenizer_from.empty()) s.tokenizer_from = a->tokenizer_from;
    s.seed = a->seed;
    if (a->type == "q4_k_m" || a->type == "Q4_K_M") {
      s.weight_type = GgmlType::kQ4_K;
      s.q4_k_m = true;
    } else if (auto t = ggml_type_from_name(a->type)) {
      s.weight_type = *t;
    } else {
      throw Error("--type must be f32, f16, bf16, q4_0, q4_1, q5_0, q5_1, q8_0, q2_k, q3_k, q4_k, q5_k, q6_k "
                  "or q4_k_m, got '" + a->type + "'");
    }
    int last = -1;
    synthesize_gguf(s, a->out, [&last](uint64_t done, uint64_t total) {
      int pct = total ? (int)(100 * done / total) : 100;
      if (pct / 10 != last / 10) {
        fprintf(stderr, "\rsynth: %3d%%", pct);
        last = pct;
      }
    });
    fprintf(stderr, "\nwrote %s\n", a->out.c_str());
  });
}

}  // namespace cascade::cli
