#include "attacks/prompt_sets.h"

#include <algorithm>
#include <cmath>

#include "engine/engine.h"
#include "util/error.h"

namespace cascade::attacks {

namespace {

struct SplitMix64 {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return (next() >> 11) * (1.0 / 9007199254740992.0); }
};

int32_t sample(const std::vector<float>& logits, float temperature, int32_t banned, SplitMix64& rng) {
  const int V = (int)logits.size();
  std::vector<double> p(V);
  double mx = -INFINITY;
  for (int v = 0; v < V; ++v)
    if (v != banned) mx = std::max(mx, (double)logits[v] / temperature);
  double sum = 0;
  for (int v = 0; v < V; ++v) {
    p[v] = v == banned ? 0.0 : std::exp((double)logits[v] / temperature - mx);
    sum += p[v];
  }
  double r = rng.uniform() * sum;
  for (int v = 0; v < V; ++v) {
    r -= p[v];
    if (r < 0 && p[v] > 0) return v;
  }
  for (int v = V - 1; v >= 0; --v)
    if (p[v] > 0) return v;
  return 0;
}

}  // namespace

std::vector<std::vector<int32_t>> generate_prompts(const Model& m, const PromptSetOptions& opts) {
  check(opts.min_len >= 1 && opts.max_len >= opts.min_len && opts.max_len <= m.cfg.context_length,
        "generate_prompts: bad length range");
  check(opts.temperature > 0, "generate_prompts: temperature must be positive");
  SplitMix64 rng{opts.seed};
  std::vector<std::vector<int32_t>> out;
  std::vector<float> logits(m.cfg.vocab_size);
  Engine eng(m);
  for (int c = 0; c < opts.count; ++c) {
    const int len = opts.min_len + (int)(rng.next() % (uint64_t)(opts.max_len - opts.min_len + 1));
    std::vector<int32_t> seq{opts.bos};
    eng.reset();
    eng.forward(&seq[0], 1, logits.data());
    while ((int)seq.size() < len) {
      const int32_t t = sample(logits, opts.temperature, opts.eos, rng);
      seq.push_back(t);
      eng.forward(&t, 1, logits.data());
    }
    out.push_back(std::move(seq));
  }
  return out;
}

const std::vector<std::string>& handwritten_prompt_texts() {
  static const std::vector<std::string> texts = {
      "Once upon a time, there was a little girl named Lily. She loved to play outside.",
      "Tom had a red ball. He threw it to his dog, and the dog ran fast.",
      "One day, a big bird flew over the park and sang a happy song.",
      "Mom said, \"Please be careful with the cup.\" Sam nodded and smiled.",
      "The cat was sad because it lost its toy under the bed.",
  };
  return texts;
}

std::vector<std::vector<int32_t>> handwritten_prompts(const Tokenizer& tok) {
  std::vector<std::vector<int32_t>> out;
  for (const auto& t : handwritten_prompt_texts()) {
    std::vector<int> ids = tok.encode(t, true);
    out.emplace_back(ids.begin(), ids.end());
  }
  return out;
}

}  // namespace cascade::attacks
