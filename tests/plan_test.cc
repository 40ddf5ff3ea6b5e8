// The planner's bounds, checked on every view of many plans (protocol §4).
#include <gtest/gtest.h>

#include <climits>
#include <nlohmann/json.hpp>

#include "plan/plan.h"
#include "util/error.h"

namespace cascade {
namespace {

ModelConfig cfg(int context = 1024) {
  ModelConfig c;
  c.dim = 64;
  c.hidden_dim = 128;
  c.n_layers = 4;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.head_dim = 16;
  c.vocab_size = 512;
  c.context_length = context;
  return c;
}

// The construction's claimed bounds (plan.h) hold for every view.
TEST(Plan, EveryViewMeetsTheConstructionBounds) {
  for (int alpha : {2, 3, 4, 8}) {
    for (int beta : {3, 4, 5, 8}) {
      for (int delta : {1, 2, 3, 4}) {
        const int c = 2 * delta;
        if (1 + (delta + c - 1) / c > alpha) continue;
        for (int pub : {0, 1, 5}) {
          Plan p = Plan::make({.alpha = alpha, .beta = beta, .c = c, .delta = delta, .public_prefix = pub}, cfg());
          SCOPED_TRACE(testing::Message() << "alpha=" << alpha << " beta=" << beta << " delta=" << delta
                                          << " pub=" << pub);
          const int u = p.attn_block();
          for (const NodeId& n : p.nodes()) {
            ViewStats st = p.stats(p.view(n));
            ASSERT_GT(st.count, 0) << n.name(beta);
            EXPECT_GE(st.first, pub + delta) << "first private positions stay at the client";
            EXPECT_GE(st.lead_gap, delta);
            if (n.role == Role::kComp) {
              EXPECT_EQ(st.max_run, p.comp_block());
              EXPECT_EQ(st.min_gap, (alpha - 1) * p.comp_block());
            } else if (p.attn_q_shard(n.index) == p.attn_kv_shard(n.index)) {
              EXPECT_EQ(st.max_run, u);
              EXPECT_EQ(st.min_gap, (beta - 1) * u);
            } else {
              EXPECT_LE(st.max_run, 2 * u);
              EXPECT_GE(st.min_gap, u);
            }
            EXPECT_LE(st.max_run, c);
            EXPECT_GE(st.min_gap, delta);
          }
        }
      }
    }
  }
}

// Every position has exactly one CompNode and one shard, and the AttnNodes
// that receive it are exactly row shard(p) (q) and column shard(p) (k,v).
TEST(Plan, EachPositionGoesExactlyWhereTheRuleSays) {
  Plan p = Plan::make({.alpha = 8, .beta = 8, .c = 6, .delta = 3}, cfg());
  for (int pos = 0; pos < 400; ++pos) {
    int comps = 0, q = 0, kv = 0;
    for (const NodeId& n : p.nodes()) {
      if (n.role == Role::kComp) comps += p.allows(n, RowKind::kHidden, pos);
      else {
        q += p.allows(n, RowKind::kQuery, pos);
        kv += p.allows(n, RowKind::kKeyValue, pos);
      }
    }
    if (pos < p.head()) {
      EXPECT_EQ(comps + q + kv, 0) << pos;
    } else {
      EXPECT_EQ(comps, 1);
      EXPECT_EQ(q, 8);
      EXPECT_EQ(kv, 8);
    }
  }
}

// Plan::make checks c-δ on the first pattern_window() positions only; the
// views repeat, so every verdict must equal the whole horizon's.
TEST(Plan, PatternWindowGivesTheWholeHorizonsVerdict) {
  int refused = 0, checked = 0;
  for (int alpha = 1; alpha <= 6; ++alpha) {
    for (int beta = 1; beta <= 6; ++beta) {
      for (int delta = 0; delta <= 4; ++delta) {
        for (int c = 1; c <= 9; ++c) {
          const PlanSpec spec{.alpha = alpha, .beta = beta, .c = c, .delta = delta, .public_prefix = 1};
          // The same plan without the requirement, to compute the views.
          PlanSpec free = spec;
          free.c = 0;
          const Plan p = Plan::make(free, cfg());
          bool whole_ok = true;
          for (const NodeId& n : p.nodes()) {
            const ViewStats st = p.stats(p.view(n));
            if (st.count > 0 && (st.max_run > c || st.min_gap < delta)) whole_ok = false;
          }
          bool made = true;
          try {
            Plan::make(spec, cfg());
          } catch (const Error&) {
            made = false;
          }
          EXPECT_EQ(made, whole_ok) << "alpha=" << alpha << " beta=" << beta << " c=" << c << " delta=" << delta;
          refused += !made;
          ++checked;
        }
      }
    }
  }
  EXPECT_GT(refused, 0);
  EXPECT_LT(refused, checked);
}

TEST(Plan, RefusesUnsatisfiableRequestsNamingTheViewAndAFix) {
  auto msg = [](PlanSpec s) {
    try {
      Plan::make(s, cfg());
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  // One CompNode sees everything.
  std::string m = msg({.alpha = 1, .beta = 4, .c = 6, .delta = 3});
  EXPECT_NE(m.find("comp0"), std::string::npos) << m;
  EXPECT_NE(m.find("alpha >= 2"), std::string::npos) << m;
  // Two shards: the off-diagonal AttnNode sees every position.
  m = msg({.alpha = 4, .beta = 2, .c = 6, .delta = 3});
  EXPECT_NE(m.find("attn(0,1)"), std::string::npos) << m;
  EXPECT_NE(m.find("beta >= 3"), std::string::npos) << m;
  // c < 2·delta cannot hold for off-diagonal views.
  m = msg({.alpha = 8, .beta = 8, .c = 5, .delta = 3});
  EXPECT_NE(m.find("raise c to >= 6"), std::string::npos) << m;
  EXPECT_EQ(msg({.alpha = 2, .beta = 2, .c = 0, .delta = 3}), "no error");  // c = 0: no requirement
  EXPECT_NE(msg({.alpha = 2, .beta = 2, .front_layers = 9}).find("front layers"), std::string::npos);
}

TEST(Plan, CoalitionsOfTwoCanCloseGaps) {
  Plan p = Plan::make({.alpha = 8, .beta = 8, .c = 6, .delta = 3}, cfg());
  Plan::Coalition one = p.worst_coalition(1), two = p.worst_coalition(2);
  ASSERT_EQ(two.members.size(), 2u);
  EXPECT_LE(one.stats.max_run, 6);
  // Two AttnNodes holding four neighbouring shards see 4 blocks of 3 in a row.
  EXPECT_EQ(two.stats.max_run, 12);
  auto j = p.to_json(3);
  EXPECT_EQ(j["worst_coalitions"].size(), 2u);
  EXPECT_EQ(j["views"].size(), 72u);
  // With β = 4, attn(0,1) + attn(2,3) together receive every position after
  // the head: the worst pair must be one that covers everything.
  Plan q = Plan::make({.alpha = 4, .beta = 4, .c = 6, .delta = 3, .horizon = 200}, cfg());
  Plan::Coalition all = q.worst_coalition(2);
  EXPECT_EQ(all.stats.min_gap, INT_MAX) << all.members[0].name(4) << "+" << all.members[1].name(4);
  EXPECT_EQ(all.stats.max_run, all.stats.count);  // one run: every position it looked at
  EXPECT_EQ(all.stats.first, q.head());
}

TEST(Plan, ClientHeadZeroExposesTheFirstPrivatePositions) {
  Plan p = Plan::make({.alpha = 4, .beta = 4, .c = 6, .delta = 3, .client_head = 0}, cfg());
  EXPECT_EQ(p.head(), 1);
  EXPECT_EQ(p.stats(p.view({Role::kComp, 0})).lead_gap, 0);
}

}  // namespace
}  // namespace cascade
