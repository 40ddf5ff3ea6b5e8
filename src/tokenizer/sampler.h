// Sampler — picks the next token id from a row of logits.
//
// temperature == 0: greedy argmax, ties to the FIRST index (as llama2.c's
// sample_argmax, so greedy runs reproduce its ids). top_k/top_p are ignored.
// temperature > 0: softmax(logits / temperature), keep the top_k most likely
// tokens (0 = all), then the smallest most-likely-first set whose probability
// reaches top_p (1 = all; always at least one token), renormalise, and draw
// with a seeded RNG. Ties in probability are ordered by lower index first.
//
// The RNG is splitmix64 seeded with `seed`: the same config and the same
// logits give the same ids on every platform, run after run. One Sampler
// per sequence; it is not thread-safe (sample advances the RNG).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace cascade {

struct SamplerConfig {
  float temperature = 0.0f;  // 0 = greedy; must be finite and >= 0
  int top_k = 0;             // 0 = off; must be >= 0
  float top_p = 1.0f;        // nucleus threshold in (0, 1]; 1 = off
  uint64_t seed = 0;         // any value, 0 included
};

class Sampler {
 public:
  // Throws cascade::Error for a config outside the ranges above.
  explicit Sampler(const SamplerConfig& config);

  // An id in [0, n). Throws cascade::Error when n <= 0 or logits is null.
  // Non-finite logits: NaN never wins; +inf wins (greedy) or takes all the
  // probability (sampling); all -inf falls back to the first index.
  int sample(const float* logits, int n);

  const SamplerConfig& config() const { return config_; }

 private:
  int sample_softmax(const float* logits, int n);
  double next_uniform();  // [0, 1)

  SamplerConfig config_;
  uint64_t rng_state_;
  // Reused per call to avoid allocating for every token.
  std::vector<std::pair<double, int>> candidates_;
};

}  // namespace cascade
