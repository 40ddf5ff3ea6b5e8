// Attacks on recorded sessions: what a role really receives, attacked.
// stories260K, the default plan (α = β = 4, c = 6, δ = 3, F = 1, head 4).
// These tests may assert that an attack is at least as strong as it was;
// they never assert an upper bound on what leaks.
#include <gtest/gtest.h>

#include <cstdio>

#include "attacks/partial_attack.h"
#include "attacks/prompt_sets.h"
#include "attacks/recorded_views.h"
#include "model/loader.h"
#include "nodes/message_recorder.h"
#include "plan/plan.h"
#include "tests/test_util.h"
#include "transport/local_cluster.h"
#include "transport/recorded_run.h"

namespace cascade::attacks {
namespace {

const LoadedModel& lm() {
  static LoadedModel m = load_model(testing::shared_path("models/stories260K/stories260K.bin"));
  return m;
}
const Model& model() { return lm().model; }

std::vector<std::vector<int32_t>> prompts(int count, uint64_t seed) {
  PromptSetOptions po;
  po.count = count;
  po.seed = seed;
  return generate_prompts(model(), po);
}

Plan default_plan() { return Plan::make(PlanSpec{}, model().cfg); }

TEST(Recorder, EveryDeliveredMessageIsRecordedAndOutputsAreUnchanged) {
  const Plan plan = default_plan();
  const auto p = prompts(1, 5)[0];
  LocalCluster plain(model(), plan), recorded(model(), plan);
  MessageRecorder rec;
  recorded.set_recorder(&rec);
  std::vector<float> a, b;
  plain.step(p.data(), (int)p.size(), false, a);
  recorded.step(p.data(), (int)p.size(), false, b);
  EXPECT_EQ(a, b);
  int64_t in = recorded.client().stats().msgs_in;
  for (int r = 0; r < plan.alpha(); ++r) in += recorded.comp(r).stats().msgs_in;
  for (int i = 0; i < plan.n_attn(); ++i) in += recorded.attn(i).stats().msgs_in;
  EXPECT_EQ((int64_t)rec.messages().size(), in);
  EXPECT_EQ((int64_t)rec.received_by({Role::kComp, 2}).size(), recorded.comp(2).stats().msgs_in);
}

TEST(PartialAttack, DefaultPlanRecoversNinetyPercentPerCompNode) {
  const Plan plan = default_plan();
  const auto ps = prompts(3, 1);
  for (int r = 0; r < plan.alpha(); ++r) {
    int64_t priv = 0, got = 0;
    for (const auto& p : ps) {
      RecordedRun run = record_run(model(), plan, p);
      std::vector<Message> inbox;
      for (const Message& m : run.messages)
        if (m.to == NodeId{Role::kComp, r}) inbox.push_back(m);
      CompNodeView v = paper_comp_view(model(), plan, inbox, r);
      ASSERT_EQ(v.n_positions, (int)p.size());
      PartialAttackResult res = partial_attack(model(), {v.view.attn, {}}, {{0, p[0]}}, v.n_positions, {});
      for (size_t s = 1; s < p.size(); ++s) {
        ++priv;
        got += res.recovered[s] == p[s];
      }
    }
    fprintf(stderr, "comp%d: %lld / %lld\n", r, (long long)got, (long long)priv);
    EXPECT_GE(got, 0.9 * priv) << "comp" << r;
  }
}

}  // namespace
}  // namespace cascade::attacks
