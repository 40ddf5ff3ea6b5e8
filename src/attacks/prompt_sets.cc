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

CalibrationPrompts calibration_prompts(const Model& m, const PromptSetOptions& eval, int held_out) {
  CalibrationPrompts c;
  PromptSetOptions o = eval;
  o.count = held_out;
  o.seed = eval.seed + 1000;
  c.held_out = generate_prompts(m, o);
  o.count = 200;
  o.seed = 7777;
  c.inverter_training = generate_prompts(m, o);
  return c;
}

std::vector<CanaryPrompt> canary_prompts(const Model& m, const Tokenizer& tok, int count, uint64_t seed) {
  static const char* const names[] = {"Zelda",  "Oswin",   "Priya",  "Tobias", "Ingrid", "Rafael",
                                      "Yusuf",  "Hiroshi", "Beatrix", "Dmitri", "Nadia", "Ezekiel",
                                      "Gustav", "Ramona",  "Quentin", "Soren",  "Wanda", "Xavier",
                                      "Maeve",  "Kwame",   "Leopold", "Imogen", "Anouk", "Bartholomew"};
  PromptSetOptions po;
  po.count = 2 * count;
  po.min_len = 8;
  po.max_len = 14;
  po.seed = seed;
  po.bos = tok.bos();
  po.eos = tok.eos();
  const auto text = generate_prompts(m, po);
  SplitMix64 rng{seed ^ 0xCA7A11E5ull};
  std::vector<CanaryPrompt> out;
  for (int c = 0; c < count; ++c) {
    const std::string name = names[rng.next() % (sizeof names / sizeof names[0])];
    std::string digits;
    for (int i = 0; i < 6; ++i) digits += (char)('0' + rng.next() % 10);
    auto body = [&](const std::vector<int32_t>& ids) {
      return tok.decode(std::vector<int>(ids.begin() + 1, ids.end()));
    };
    const std::string planted = "The secret code of " + name + " is " + digits + ".";
    const std::string full = body(text[2 * c]) + " " + planted + " " + body(text[2 * c + 1]);
    std::vector<int> ids = tok.encode(full, true);
    check((int)ids.size() <= m.cfg.context_length, "canary_prompts: a canary prompt exceeds the context");
    // Where each token's text lies in the decoded prompt.
    std::string decoded;
    std::vector<std::pair<size_t, size_t>> span;
    for (size_t i = 0; i < ids.size(); ++i) {
      const size_t b = decoded.size();
      decoded += tok.decode(i ? ids[i - 1] : -1, ids[i]);
      span.push_back({b, decoded.size()});
    }
    const size_t at = decoded.find(planted);
    check(at != std::string::npos, "canary_prompts: the tokenizer does not decode the planted text back");
    const size_t n0 = at + planted.find(name), d0 = at + planted.find(digits);
    CanaryPrompt cp;
    cp.tokens.assign(ids.begin(), ids.end());
    cp.secret = name + " " + digits;
    for (size_t i = 0; i < ids.size(); ++i) {
      auto overlaps = [&](size_t b, size_t e) { return span[i].first < e && b < span[i].second; };
      if (overlaps(n0, n0 + name.size()) || overlaps(d0, d0 + digits.size())) cp.canary.push_back((int)i);
    }
    out.push_back(std::move(cp));
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
