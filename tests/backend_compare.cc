#include "tests/backend_compare.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "kernels/kernels.h"
#include "model/loader.h"

namespace cascade::testing {

std::vector<int32_t> random_prompt(int n, int vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> p(n);
  for (auto& t : p) t = 3 + (int)(rng() % (vocab - 3));
  p[0] = 1;  // BOS: the public prefix
  return p;
}

void expect_matches_plain(const Model& m, Backend& other, const std::vector<int32_t>& prompt, int gen) {
  PlainBackend plain(m);
  const int n = (int)prompt.size(), V = m.cfg.vocab_size;
  std::vector<float> lp, lo;
  plain.step(prompt.data(), n, true, lp);
  other.step(prompt.data(), n, true, lo);
  ASSERT_LE(max_abs_diff(lp, lo), 1e-4f) << "prefill logits";
  int32_t tok = argmax(lp.data() + (size_t)(n - 1) * V, V);
  for (int i = 0; i < gen; ++i) {
    plain.step(&tok, 1, false, lp);
    other.step(&tok, 1, false, lo);
    ASSERT_LE(max_abs_diff(lp, lo), 1e-4f) << "decode step " << i;
    const int32_t tp = argmax(lp.data(), V), t2 = argmax(lo.data(), V);
    ASSERT_EQ(tp, t2) << "greedy token differs at step " << i;
    tok = tp;
  }
}

const std::string& stories260k_path() {
  static const std::string p = shared_path("models/stories260K/stories260K.bin");
  return p;
}

const Model& stories260k() {
  static const LoadedModel lm = load_model(stories260k_path(), {.require_tokenizer = false});
  return lm.model;
}

}  // namespace cascade::testing
