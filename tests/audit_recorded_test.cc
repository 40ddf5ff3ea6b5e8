// Attacks on recorded sessions: what a role really receives, attacked.
// stories260K, the default plan (α = β = 4, c = 6, δ = 3, F = 1, head 4).
// These tests may assert that an attack is at least as strong as it was;
// they never assert an upper bound on what leaks.
#include <gtest/gtest.h>

#include <cstdio>
#include <numeric>

#include "attacks/recorded_audit.h"
#include "engine/engine.h"
#include "kernels/kernels.h"
#include "tokenizer/tokenizer.h"

#include "attacks/partial_attack.h"
#include "attacks/prompt_sets.h"
#include "attacks/recorded_views.h"
#include "model/loader.h"
#include "nodes/local_cluster.h"
#include "nodes/message_recorder.h"
#include "nodes/recorded_run.h"
#include "plan/plan.h"
#include "tests/test_util.h"

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

// The paper protocol: the leak these tests prove the attack on.
Plan default_plan() { return Plan::make(PlanSpec{.protocol = Protocol::kPaper}, model().cfg); }

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

// Observations in any layout work: here every position is a query row whose
// result covers all keys up to and including itself (one observer holding
// every key), built from the plaintext engine. Each position then has an
// observation with no unresolved key, so the test is exact, with or
// without the prior.
TEST(PartialAttack, AnyKeyLayoutAndNoPriorRecoverExactlyCoveredPositions) {
  const auto& c = model().cfg;
  const auto p = prompts(1, 3)[0];
  const int n = (int)p.size(), qd = c.q_dim();
  Engine eng(model());
  std::vector<float> logits(c.vocab_size);
  eng.forward(p.data(), n, logits.data());
  // q rows of every block: trace the true tokens one at a time.
  ReceivedView view;
  std::vector<int32_t> pos(n);
  std::iota(pos.begin(), pos.end(), 0);
  std::vector<float> h((size_t)n * c.dim), q((size_t)n * qd), k((size_t)n * c.kv_dim()), v((size_t)n * c.kv_dim()),
      o((size_t)n * qd), lse((size_t)n * c.n_heads);
  RowScratch scratch;
  embed_rows(model(), p.data(), pos.data(), n, h.data());
  for (int l = 0; l < c.n_layers; ++l) {
    block_qkv(model(), l, h.data(), pos.data(), n, q.data(), k.data(), v.data(), scratch);
    attention_partial(o.data(), lse.data(), q.data(), pos.data(), n, k.data(), v.data(), pos.data(), n, c.n_heads,
                      c.n_kv_heads, c.head_dim);
    if (l >= 1)
      for (int t = 1; t < n; ++t) {
        AttnObservation ob;
        ob.layer = l;
        ob.query_pos = t;
        for (int s2 = 0; s2 <= t; ++s2) ob.key_pos.push_back(s2);
        ob.q.assign(q.begin() + (size_t)t * qd, q.begin() + (size_t)(t + 1) * qd);
        ob.out.assign(o.begin() + (size_t)t * qd, o.begin() + (size_t)(t + 1) * qd);
        ob.lse.assign(lse.begin() + (size_t)t * c.n_heads, lse.begin() + (size_t)(t + 1) * c.n_heads);
        view.attn.push_back(std::move(ob));
      }
    block_finish(model(), l, h.data(), o.data(), n, scratch);
  }
  for (bool prior : {true, false}) {
    PartialAttackOptions po;
    po.model_order = prior;
    PartialAttackResult r = partial_attack(model(), view, {{0, p[0]}}, n, po);
    for (int s2 = 1; s2 < n; ++s2) {
      EXPECT_EQ(r.recovered[s2], p[s2]) << "position " << s2 << (prior ? " with" : " without") << " the prior";
      EXPECT_TRUE(r.covered[s2] && r.testable[s2] && r.accepted[s2]);
    }
    if (!prior) {
      EXPECT_GT(r.candidates_tried, (int64_t)(n - 1) * 16) << "token-id order should search";
    }
  }
}

// Merging a row's per-shard results gives the result over the union of
// their keys (what attention_partial computes over all of them at once).
TEST(PartialAttack, MergedObservationsEqualOneResultOverAllKeys) {
  const Plan plan = default_plan();
  const auto p = prompts(1, 6)[0];
  RecordedRun run = record_run(model(), plan, p);
  std::vector<Message> inbox;
  for (const Message& m : run.messages)
    if (m.to == NodeId{Role::kComp, 1}) inbox.push_back(m);
  CompNodeView v = paper_comp_view(model(), plan, inbox, 1);
  const std::vector<AttnObservation> merged = merge_observations(v.view.attn);
  ASSERT_FALSE(merged.empty());
  // The plaintext engine's keys and values, to recompute each merged result directly.
  const auto& c = model().cfg;
  Engine eng(model());
  eng.forward(p.data(), (int)p.size(), nullptr);
  std::vector<int32_t> kpos(p.size());
  std::iota(kpos.begin(), kpos.end(), 0);
  std::vector<float> o(c.q_dim()), lse(c.n_heads);
  for (const AttnObservation& m : merged) {
    ASSERT_EQ((int)m.key_pos.size(), m.query_pos + 1) << "a row's results cover every key up to it";
    const int32_t t = m.query_pos;
    attention_partial(o.data(), lse.data(), m.q.data(), &t, 1, eng.k_cache(m.layer), eng.v_cache(m.layer),
                      kpos.data(), (int)p.size(), c.n_heads, c.n_kv_heads, c.head_dim);
    for (int h = 0; h < c.n_heads; ++h) EXPECT_NEAR(m.lse[h], lse[h], 1e-4);
    for (int j = 0; j < c.q_dim(); ++j) EXPECT_NEAR(m.out[j], o[j], 1e-4);
  }
}

TEST(Canaries, PlantedTokensSpellTheSecret) {
  const Tokenizer tok(*lm().vocab);
  const auto a = canary_prompts(model(), tok, 4, 11), b = canary_prompts(model(), tok, 4, 11);
  ASSERT_EQ(a.size(), 4u);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].tokens, b[i].tokens);
    ASSERT_FALSE(a[i].canary.empty());
    std::vector<int> secret;
    for (int p : a[i].canary) secret.push_back(a[i].tokens[p]);
    std::string text = tok.decode(std::vector<int>(a[i].tokens.begin(), a[i].tokens.end()));
    const std::string name = a[i].secret.substr(0, a[i].secret.find(' '));
    const std::string digits = a[i].secret.substr(a[i].secret.find(' ') + 1);
    EXPECT_NE(text.find("The secret code of " + name + " is " + digits), std::string::npos);
    std::string spelled;
    for (int p : a[i].canary) spelled += tok.decode(a[i].tokens[p - 1], a[i].tokens[p]);
    EXPECT_NE(spelled.find(digits), std::string::npos) << spelled;
  }
}

// The audit of a recording: baselines, every node, coalitions; CompNodes
// recover at least what they would from their own rows.
TEST(RecordedAudit, EveryRoleAndCoalitionsWithBaselines) {
  const Plan plan = default_plan();
  const Tokenizer tok(*lm().vocab);
  std::vector<AuditSession> sessions;
  for (const auto& p : prompts(1, 21)) {  // a short prompt and one generated token
    RecordedRun run = record_run(model(), plan, p, 1);
    sessions.push_back({run.tokens, run.messages, {}});
  }
  auto cp = canary_prompts(model(), tok, 1, 4)[0];
  RecordedRun run = record_run(model(), plan, cp.tokens);
  sessions.push_back({run.tokens, run.messages, cp.canary});
  RecordedAuditOptions opts;
  opts.no_prior = false;
  opts.max_coalition = 2;
  opts.result_pairs = 0;
  opts.budget = 128;  // keeps the test in seconds; the docs use the whole vocabulary
  int calls = 0;
  RecordedAuditReport r = audit_recorded(model(), plan, sessions, opts, [&](const std::string&, int, int) { ++calls; });
  EXPECT_GT(calls, 0);
  ASSERT_EQ(r.baselines.size(), 2u);
  EXPECT_EQ(r.baselines[0].attack, "prior_greedy");
  EXPECT_EQ(r.baselines[0].canary_positions, (int64_t)cp.canary.size());
  const size_t n_nodes = plan.nodes().size();
  ASSERT_EQ(r.parties.size(), n_nodes + 1);  // the structural pair
  for (size_t i = 0; i < n_nodes; ++i) {
    const RecordedParty& pa = r.parties[i];
    EXPECT_EQ(pa.chosen_by, "node");
    if (pa.members[0].role == Role::kComp) {
      ASSERT_EQ(pa.attacks.size(), 3u);
      EXPECT_EQ(pa.attacks[0].attack, "partial");
      EXPECT_EQ(pa.attacks[1].attack, "rows_only");
      EXPECT_EQ(pa.attacks[2].attack, "own_rows");
      // Its rows imply o_t: at least its own positions, like rows_only.
      EXPECT_GE(pa.attacks[2].recovered, pa.attacks[1].covered_positions) << pa.name;
      EXPECT_GE(pa.attacks[0].recovered, pa.attacks[1].covered_positions) << pa.name;
      EXPECT_EQ(pa.attacks[0].head_recovered, pa.attacks[0].head_positions) << pa.name << ": client head";
    } else {
      ASSERT_EQ(pa.attacks.size(), 1u);
      EXPECT_EQ(pa.attacks[0].attack, "rows");
      // Half of the rows' positions, behind a greedily filled context: the
      // attack does better (docs/results/audit_recorded.md), but with a
      // budget of 128 random canary digits often lie beyond it.
      EXPECT_GE(pa.attacks[0].covered_recovered, pa.attacks[0].covered_positions / 2) << pa.name;
    }
  }
  EXPECT_EQ(r.parties[n_nodes].chosen_by, "structure");
  EXPECT_EQ(r.parties[n_nodes].attacks[0].attack, "joint");
  const nlohmann::json j = to_json(r);
  EXPECT_EQ(j["parties"].size(), r.parties.size());
  EXPECT_NE(to_table(r).find("| comp0 | node | partial |"), std::string::npos);
}

}  // namespace
}  // namespace cascade::attacks
