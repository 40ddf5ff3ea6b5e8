// The plaintext engine against llama2.c run.c's goldens for stories260K:
// logits within 1e-4 after every prompt, identical greedy ids.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/engine.h"
#include "kernels/isa.h"
#include "kernels/kernels.h"
#include "model/loader.h"
#include "tests/test_util.h"

namespace cascade {
namespace {

using nlohmann::json;

const json& golden() {
  static json g = [] {
    std::ifstream f(testing::shared_path("models/stories260K/golden.json"));
    return json::parse(f);
  }();
  return g;
}

using testing::max_abs_diff;

// Runs one golden case: prompt in one batched forward, then greedy steps.
void check_case(const Model& m, const json& cs) {
  SCOPED_TRACE(cs["name"].get<std::string>());
  Engine eng(m);
  const int V = m.cfg.vocab_size;
  std::vector<int32_t> prompt = cs["prompt_ids"].get<std::vector<int32_t>>();
  std::vector<float> last(V), all((size_t)prompt.size() * V);
  eng.forward(prompt.data(), (int)prompt.size(), last.data(), all.data());
  EXPECT_LT(max_abs_diff(last.data(), cs["logits_last"].get<std::vector<float>>()), 1e-4f);
  if (cs.contains("logits_all_positions")) {
    auto rows = cs["logits_all_positions"];
    for (size_t p = 0; p < rows.size(); ++p)
      EXPECT_LT(max_abs_diff(all.data() + p * V, rows[p].get<std::vector<float>>()), 1e-4f)
          << "position " << p;
  }
  std::vector<int32_t> got;
  for (size_t i = 0; i < cs["greedy_ids"].size(); ++i) {
    int32_t next = argmax(last.data(), V);
    got.push_back(next);
    eng.forward(&next, 1, last.data());
  }
  EXPECT_EQ(got, cs["greedy_ids"].get<std::vector<int32_t>>());
}

class Golden : public ::testing::TestWithParam<std::string> {};

TEST_P(Golden, EveryCaseMatchesRunC) {
  LoadedModel lm = load_model(testing::shared_path("models/stories260K/" + GetParam()),
                              {.require_tokenizer = false});
  EXPECT_EQ(lm.model.cfg.dim, 64);
  EXPECT_EQ(lm.model.cfg.n_kv_heads, 4);
  for (const auto& cs : golden()["cases"]) check_case(lm.model, cs);
}

// The same cases under every kernel path this CPU has (kernels/isa.h).
TEST_P(Golden, EveryKernelPathMatchesRunC) {
  LoadedModel lm = load_model(testing::shared_path("models/stories260K/" + GetParam()),
                              {.require_tokenizer = false});
  const Isa before = active_isa();
  for (Isa isa : supported_isas()) {
    SCOPED_TRACE(isa_name(isa));
    set_isa(isa);
    for (const auto& cs : golden()["cases"]) check_case(lm.model, cs);
  }
  set_isa(before);
}

TEST_P(Golden, EmptyPromptGreedy100) {
  LoadedModel lm = load_model(testing::shared_path("models/stories260K/" + GetParam()),
                              {.require_tokenizer = false});
  const auto& g = golden()["empty_prompt_greedy_100"];
  Engine eng(lm.model);
  std::vector<float> logits(lm.model.cfg.vocab_size);
  int32_t tok = 1;
  std::vector<int32_t> got;
  for (size_t i = 0; i < g["ids"].size(); ++i) {
    eng.forward(&tok, 1, logits.data());
    tok = argmax(logits.data(), lm.model.cfg.vocab_size);
    got.push_back(tok);
  }
  EXPECT_EQ(got, g["ids"].get<std::vector<int32_t>>());
}

// Prefill in one batch and token-by-token must agree (GEMM vs GEMV paths).
TEST_P(Golden, BatchedPrefillEqualsStepwise) {
  LoadedModel lm = load_model(testing::shared_path("models/stories260K/" + GetParam()),
                              {.require_tokenizer = false});
  const auto& cs = golden()["cases"][2];
  std::vector<int32_t> prompt = cs["prompt_ids"].get<std::vector<int32_t>>();
  const int V = lm.model.cfg.vocab_size;
  Engine a(lm.model), b(lm.model);
  std::vector<float> la(V), lb(V);
  a.forward(prompt.data(), (int)prompt.size(), la.data());
  for (int32_t t : prompt) b.forward(&t, 1, lb.data());
  EXPECT_LT(max_abs_diff(la.data(), lb), 1e-5f);
}

INSTANTIATE_TEST_SUITE_P(Stories260K, Golden,
                         ::testing::Values("stories260K.bin", "stories260K.gguf"));

}  // namespace
}  // namespace cascade
