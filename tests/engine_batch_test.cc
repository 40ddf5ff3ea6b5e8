// forward_batch (engine/batch.h) against each session run alone: sessions
// joining and leaving between steps, prefill chunks beside decode rows.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <vector>

#include "engine/batch.h"
#include "engine/engine.h"
#include "kernels/kernels.h"
#include "model/loader.h"
#include "tests/test_util.h"
#include "util/error.h"

namespace cascade {
namespace {

LoadedModel stories() {
  return load_model(testing::shared_path("models/stories260K/stories260K.bin"), {.require_tokenizer = false});
}

std::vector<int32_t> prompt(int n, int seed, int vocab) {
  std::vector<int32_t> p(n);
  for (int i = 0; i < n; ++i) p[i] = 1 + (seed * 131 + i * 17) % (vocab - 1);
  return p;
}

struct Session {
  std::vector<int32_t> prompt;
  int join_step, decode_steps;
};

TEST(EngineBatch, EachSessionEqualsItsUnbatchedRun) {
  LoadedModel lm = stories();
  const Model& m = lm.model;
  const int V = m.cfg.vocab_size;
  // Prompts of 1 to 40 tokens (decode-only to multi-chunk prefill), joining
  // at steps 0, 0, 1, 3 and leaving after different numbers of tokens.
  const std::vector<Session> sessions = {
      {prompt(5, 1, V), 0, 6}, {prompt(40, 2, V), 0, 3}, {prompt(1, 3, V), 1, 7}, {prompt(17, 4, V), 3, 2}};
  // Alone: logits after the prompt, then after each greedy token.
  std::vector<std::vector<std::vector<float>>> want(sessions.size());
  for (size_t i = 0; i < sessions.size(); ++i) {
    Engine e(m);
    std::vector<float> logits(V);
    e.forward(sessions[i].prompt.data(), (int)sessions[i].prompt.size(), logits.data());
    want[i].push_back(logits);
    for (int d = 0; d < sessions[i].decode_steps; ++d) {
      int32_t t = argmax(logits.data(), V);
      e.forward(&t, 1, logits.data());
      want[i].push_back(logits);
    }
  }
  // Batched.
  std::vector<Engine> engines;
  engines.reserve(sessions.size());
  for (size_t i = 0; i < sessions.size(); ++i) engines.emplace_back(m);
  std::vector<std::vector<float>> logits(sessions.size(), std::vector<float>(V));
  std::vector<int> done(sessions.size(), 0);  // outputs so far
  std::vector<int32_t> next(sessions.size());
  int checked = 0, max_rows = 0;
  for (int step = 0; step < 12; ++step) {
    std::vector<BatchItem> items;
    std::vector<size_t> who;
    for (size_t i = 0; i < sessions.size(); ++i) {
      const Session& s = sessions[i];
      if (step < s.join_step || done[i] > s.decode_steps) continue;  // not joined yet, or left
      if (done[i] == 0)
        items.push_back({&engines[i], s.prompt.data(), (int)s.prompt.size(), logits[i].data()});
      else
        items.push_back({&engines[i], &next[i], 1, logits[i].data()});
      who.push_back(i);
    }
    if (items.empty()) break;
    int rows = 0;
    for (auto& it : items) rows += it.n;
    max_rows = std::max(max_rows, rows);
    forward_batch(items);
    for (size_t i : who) {
      const auto& w = want[i][done[i]];
      float diff = 0;
      for (int t = 0; t < V; ++t) diff = std::max(diff, std::fabs(logits[i][t] - w[t]));
      EXPECT_LT(diff, 1e-4f) << "session " << i << " output " << done[i] << " step " << step;
      next[i] = argmax(logits[i].data(), V);
      EXPECT_EQ(next[i], argmax(w.data(), V)) << "session " << i << " output " << done[i];
      ++done[i];
      ++checked;
    }
  }
  int expected = 0;
  for (size_t i = 0; i < sessions.size(); ++i) {
    EXPECT_EQ(done[i], sessions[i].decode_steps + 1) << i;
    expected += sessions[i].decode_steps + 1;
  }
  EXPECT_EQ(checked, expected);
  EXPECT_GT(max_rows, 40);  // some step really mixed prefill and decode rows
}

TEST(EngineBatch, BadStepIsAnErrorAndChangesNothing) {
  LoadedModel lm = stories();
  Engine a(lm.model), b(lm.model);
  const int32_t t[2] = {5, 6};
  EXPECT_THROW(forward_batch({{&a, t, 1, nullptr}, {&a, t, 1, nullptr}}), Error);
  EXPECT_THROW(forward_batch({{&a, t, 0, nullptr}}), Error);
  std::vector<int32_t> big(lm.model.cfg.context_length + 1, 5);
  EXPECT_THROW(forward_batch({{&a, t, 2, nullptr}, {&b, big.data(), (int)big.size(), nullptr}}), Error);
  const int32_t bad = lm.model.cfg.vocab_size;
  EXPECT_THROW(forward_batch({{&a, t, 2, nullptr}, {&b, &bad, 1, nullptr}}), Error);
  EXPECT_EQ(a.position(), 0);
  EXPECT_EQ(b.position(), 0);
  forward_batch({{&a, t, 2, nullptr}, {&b, t, 1, nullptr}});
  EXPECT_EQ(a.position(), 2);
  EXPECT_EQ(b.position(), 1);
}

}  // namespace
}  // namespace cascade
