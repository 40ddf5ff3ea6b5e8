// Cascade (every role separate, in-process bus) against the plaintext engine.
//
// For each model × plan × prompt length: logits at every prompt position
// within 1e-4, then 64 greedy steps with identical tokens and logits within
// 1e-4; and every node received exactly the rows of its planned view.
#include <gtest/gtest.h>

#include <cmath>
#include <deque>
#include <map>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "kernels/kernels.h"
#include "model/loader.h"
#include "model/synth.h"
#include "nodes/attn_mask.h"
#include "nodes/attn_node.h"
#include "nodes/client.h"
#include "nodes/comp_node.h"
#include "nodes/local_cluster.h"
#include "plan/plan.h"
#include "tests/backend_compare.h"
#include "tests/test_util.h"
#include "util/error.h"

namespace cascade {
namespace {

struct PlanCase {
  int alpha, beta, c, delta, F, client_head;
};

const Model& stories() {
  static LoadedModel lm = load_model(testing::shared_path("models/stories260K/stories260K.bin"),
                                     {.require_tokenizer = false});
  return lm.model;
}

const Model& tiny_gpt2() {
  static LoadedModel lm = [] {
    SynthSpec s = synth_preset("tiny-gpt2");
    s.context_length = 640;
    std::string path = testing::temp_dir() + "/tiny-gpt2.gguf";
    synthesize_gguf(s, path);
    return load_model(path, {.require_tokenizer = false});
  }();
  return lm.model;
}

using testing::random_prompt;

// A Llama-3-style model: GQA and Llama 3.1 RoPE frequency scaling.
const Model& tiny_llama3() {
  static LoadedModel lm = [] {
    SynthSpec s = synth_preset("tiny-llama");
    s.context_length = 640;
    s.rope_theta = 500000.0f;
    s.rope_scale_factor = 32.0f;
    s.rope_original_context = 64;  // so that the scaling bites at these lengths
    std::string path = testing::temp_dir() + "/tiny-llama3.gguf";
    synthesize_gguf(s, path);
    return load_model(path, {.require_tokenizer = false});
  }();
  return lm.model;
}

// Runs prompt + `gen` greedy steps on both backends; checks logits, tokens,
// and that every node received exactly its planned view of the positions used.
void compare(const Model& m, const PlanCase& pc, int n_prompt, int gen, Protocol protocol) {
  PlanSpec spec{.alpha = pc.alpha, .beta = pc.beta, .c = pc.c, .delta = pc.delta,
                .front_layers = pc.F, .public_prefix = 1, .client_head = pc.client_head, .protocol = protocol};
  Plan plan = Plan::make(spec, m.cfg);
  SCOPED_TRACE(std::string(protocol_name(protocol)) + " alpha=" + std::to_string(pc.alpha) + " beta=" + std::to_string(pc.beta) +
               " c=" + std::to_string(pc.c) + " delta=" + std::to_string(pc.delta) +
               " F=" + std::to_string(pc.F) + " head=" + std::to_string(plan.head()) +
               " prompt=" + std::to_string(n_prompt));
  LocalCluster cluster(m, plan);
  testing::expect_matches_plain(m, cluster, random_prompt(n_prompt, m.cfg.vocab_size, 1234 + n_prompt), gen);
  if (::testing::Test::HasFatalFailure()) return;
  // Views: what each node received is exactly its planned view, restricted
  // to the positions that exist.
  const int n_total = n_prompt + gen;
  for (const NodeId& node : plan.nodes()) {
    std::set<int> planned;
    for (int p : plan.view(node))
      if (p < n_total) planned.insert(p);
    const RoleStats& st = node.role == Role::kComp ? cluster.comp(node.index).stats()
                                                   : cluster.attn(node.index).stats();
    if (pc.F == m.cfg.n_layers) planned.clear();  // nothing leaves the client
    EXPECT_EQ(st.positions_seen, planned) << node.name(plan.beta());
  }
}

// Both protocols: the private one (masked rows, merged attention) and the paper's.
void compare(const Model& m, const PlanCase& pc, int n_prompt, int gen) {
  for (Protocol protocol : {Protocol::kPrivate, Protocol::kPaper}) compare(m, pc, n_prompt, gen, protocol);
}

const std::vector<PlanCase> kPlans = {
    {1, 1, 0, 0, 1, 0},  // one CompNode, one AttnNode: no privacy, pure protocol
    {2, 1, 0, 0, 0, 0},  // F = 0: nodes see layer-0 rows (the audit shows the leak)
    {1, 2, 0, 1, 2, -1},
    {2, 2, 0, 2, 1, -1},
    {3, 3, 2, 1, 1, -1},  // c-δ plans
    {3, 3, 4, 2, 0, -1},
    {2, 3, 6, 3, 2, -1},
    {8, 3, 6, 3, 1, -1},
    {3, 8, 6, 3, 1, -1},
    {8, 8, 6, 3, 1, -1},  // the 72-node plan
    {8, 8, 2, 1, 0, 0},
    {4, 4, 0, 0, 5, -1},  // F = L: the client computes everything
};

class CascadeEqualsPlain : public ::testing::TestWithParam<int> {};

TEST_P(CascadeEqualsPlain, Stories260K) {
  const Model& m = stories();
  const int n_prompt = GetParam();
  const int gen = std::min(64, m.cfg.context_length - n_prompt);
  for (const PlanCase& pc : kPlans) {
    if (pc.F > m.cfg.n_layers) continue;
    compare(m, pc, n_prompt, gen);
  }
}

TEST_P(CascadeEqualsPlain, TinyGPT2) {
  const Model& m = tiny_gpt2();
  ASSERT_EQ(m.cfg.arch, Arch::kGPT2);
  for (const PlanCase& pc : kPlans) {
    PlanCase p = pc;
    p.F = std::min(p.F, m.cfg.n_layers);
    compare(m, p, GetParam(), 64);
  }
}

TEST_P(CascadeEqualsPlain, TinyLlama3RopeScaling) {
  const Model& m = tiny_llama3();
  ASSERT_GT(m.cfg.rope_scale_factor, 0.0f);
  for (const PlanCase& pc : kPlans) {
    PlanCase p = pc;
    p.F = std::min(p.F, m.cfg.n_layers);
    compare(m, p, GetParam(), 16);
  }
}

INSTANTIATE_TEST_SUITE_P(Prompts, CascadeEqualsPlain, ::testing::Values(1, 7, 100, 500));

// Weights kept quantized in memory (a Q4_K_M-like mix of Q4_K and Q6_K):
// every role computes with the quantized matrices, and the bar holds.
const Model& tiny_q4km_kept_quantized() {
  static LoadedModel lm = [] {
    SynthSpec s = synth_preset("tiny-llama");
    s.dim = 256, s.hidden_dim = 512, s.n_heads = 4, s.n_kv_heads = 2, s.n_layers = 4;
    s.context_length = 256;
    s.weight_type = GgmlType::kQ4_K;
    s.q4_k_m = true;
    std::string path = testing::temp_dir() + "/tiny-q4km.gguf";
    synthesize_gguf(s, path);
    return load_model(path, {.require_tokenizer = false, .keep_quantized = true});
  }();
  return lm.model;
}

TEST(CascadeQuantized, KeptQuantizedQ4KMEqualsPlain) {
  const Model& m = tiny_q4km_kept_quantized();
  ASSERT_TRUE(m.has_quantized());
  for (int n_prompt : {7, 60}) {
    for (const PlanCase& pc : kPlans) {
      PlanCase p = pc;
      p.F = std::min(p.F, m.cfg.n_layers);
      compare(m, p, n_prompt, 8);
    }
  }
}

// A bad token id is refused before anything changes: the session goes on.
TEST(CascadeInput, BadTokenIsRefusedAndTheSessionGoesOn) {
  const Model& m = stories();
  Plan plan = Plan::make({.alpha = 2, .beta = 3, .c = 2, .delta = 1}, m.cfg);
  LocalCluster cluster(m, plan);
  PlainBackend plain(m);
  std::vector<float> lc, lp;
  int32_t bad[2] = {1, m.cfg.vocab_size};
  EXPECT_THROW(cluster.step(bad, 2, false, lc), Error);
  EXPECT_THROW(plain.step(bad, 2, false, lp), Error);
  EXPECT_EQ(cluster.position(), 0);
  EXPECT_EQ(plain.position(), 0);
  testing::expect_matches_plain(m, cluster, random_prompt(12, m.cfg.vocab_size, 5), 4);
}

// A decode step queries only the β AttnNodes (s, ·) of the new position's
// shard s. The others, (a, s) with a ≠ s, only store its k,v rows: they get
// the StepBegin and one kCacheRows message for all blocks, not one per block.
TEST(CascadeMessages, DecodeSendsCacheOnlyRowsOncePerStep) {
  const Model& m = stories();
  Plan plan = Plan::make({.alpha = 2, .beta = 4, .c = 6, .delta = 3, .protocol = Protocol::kPaper}, m.cfg);
  LocalCluster cluster(m, plan);
  std::vector<float> logits;
  std::vector<int32_t> prompt = random_prompt(20, m.cfg.vocab_size, 9);
  cluster.step(prompt.data(), (int)prompt.size(), false, logits);
  std::vector<int64_t> before(plan.n_attn());
  for (int i = 0; i < plan.n_attn(); ++i) before[i] = cluster.attn(i).stats().msgs_in;
  const int32_t t = 5;
  const int s = plan.shard_of((int)prompt.size());
  ASSERT_NE(s, Plan::kClientOwned);
  cluster.step(&t, 1, false, logits);
  const int blocks = m.cfg.n_layers - plan.front_layers();
  for (int a = 0; a < plan.beta(); ++a) {
    for (int b = 0; b < plan.beta(); ++b) {
      const int i = plan.attn_node(a, b).index;
      const int64_t got = cluster.attn(i).stats().msgs_in - before[i];
      const int64_t want = a == s ? 1 + blocks : (b == s ? 2 : 0);
      EXPECT_EQ(got, want) << plan.attn_node(a, b).name(plan.beta());
      EXPECT_EQ(cluster.attn(i).cached_keys(m.cfg.n_layers - 1), cluster.attn(i).cached_keys(plan.front_layers()));
    }
  }
}

// Private protocol, a decode step: the new position's CompNode gets one
// merged output per block and nothing else; AttnNode (s, b) gets the step
// begin, its rows per block, and, in the blocks it merges, the β-1 other
// partials of its shard and the client's; the others only cache rows.
TEST(CascadeMessages, PrivateDecodeGetsOneMergedOutputPerBlock) {
  const Model& m = stories();
  Plan plan = Plan::make({.alpha = 2, .beta = 4, .c = 6, .delta = 3}, m.cfg);
  ASSERT_TRUE(plan.is_private());
  ASSERT_GT(plan.head(), 0);
  LocalCluster cluster(m, plan);
  std::vector<float> logits;
  std::vector<int32_t> prompt = random_prompt(20, m.cfg.vocab_size, 9);
  cluster.step(prompt.data(), (int)prompt.size(), false, logits);
  std::vector<int64_t> before(plan.n_attn());
  for (int i = 0; i < plan.n_attn(); ++i) before[i] = cluster.attn(i).stats().msgs_in;
  const int pos = (int)prompt.size(), s = plan.shard_of(pos), owner = plan.comp_of(pos);
  const int64_t comp_before = cluster.comp(owner).stats().msgs_in;
  const int32_t t = 5;
  cluster.step(&t, 1, false, logits);
  const int F = plan.front_layers(), L = m.cfg.n_layers, blocks = L - F;
  EXPECT_EQ(cluster.comp(owner).stats().msgs_in - comp_before, 1 + blocks);
  for (int a = 0; a < plan.beta(); ++a) {
    for (int b = 0; b < plan.beta(); ++b) {
      const NodeId node = plan.attn_node(a, b);
      int64_t want = a == s ? 1 + blocks : (b == s ? 2 : 0);
      if (a == s)
        for (int l = F; l < L; ++l)
          if (plan.merger(s, l) == node) want += plan.beta() - 1 + 1;  // other partials + the client's
      EXPECT_EQ(cluster.attn(node.index).stats().msgs_in - before[node.index], want) << node.name(plan.beta());
    }
  }
}

// The masks are exact: scores survive up to the row's shift α, and a
// partial output comes back after masking and unmasking.
TEST(AttnMask, ScoresSurviveShiftedAndOutputsUnmask) {
  const Model& m = tiny_llama3();  // GQA
  const auto& c = m.cfg;
  AttnMask mask(c, new_session_secret());
  std::mt19937 rng(3);
  std::normal_distribution<float> N(0.f, 2.f);
  std::vector<float> q(c.q_dim()), k(c.kv_dim()), alpha(c.n_heads), o(c.q_dim());
  for (float& x : q) x = N(rng);
  for (float& x : k) x = N(rng);
  for (float& x : o) x = N(rng);
  for (float& x : alpha) x = N(rng);
  const int w = mask.width(), hd = c.head_dim, group = c.n_heads / c.n_kv_heads;
  std::vector<float> qm((size_t)c.n_heads * w), km((size_t)c.n_kv_heads * w), om((size_t)c.n_heads * w), back(c.q_dim());
  mask.mask_q(2, 1, 0, q.data(), alpha.data(), 1, qm.data());
  mask.mask_k(2, 1, 0, k.data(), 1, km.data());
  for (int h = 0; h < c.n_heads; ++h) {
    double want = 0, got = 0;
    for (int i = 0; i < hd; ++i) want += q[h * hd + i] * k[(h / group) * hd + i];
    want = want / std::sqrt((double)hd) + alpha[h];
    for (int i = 0; i < w; ++i) got += qm[h * w + i] * km[(h / group) * w + i];
    got /= std::sqrt((double)w);
    EXPECT_NEAR(got, want, 1e-4 * (1 + std::fabs(want))) << "head " << h;
    // The masked rows are not the clear ones.
    EXPECT_GT(std::fabs(qm[h * w] - q[h * hd]), 1e-3);
  }
  // Another AttnNode's mask does not give the scores.
  std::vector<float> km2((size_t)c.n_kv_heads * w);
  mask.mask_k(2, 1, 1, k.data(), 1, km2.data());
  double got0 = 0, got1 = 0;
  for (int i = 0; i < w; ++i) got0 += qm[i] * km[i], got1 += qm[i] * km2[i];
  EXPECT_GT(std::fabs(got0 - got1), 1e-3);
  mask.mask_out(2, 1, o.data(), 1, om.data());
  mask.unmask_out(2, 1, om.data(), 1, back.data());
  EXPECT_LT(testing::max_abs_diff(o, back), 1e-5);
  // Same secret, same masks: the client and the CompNodes agree.
  EXPECT_THROW(AttnMask(c, "short"), Error);
}

// Rows sent the other way than the step calls for are refused: per-block
// k/v rows to an AttnNode no position queries, or kCacheRows to one that is
// queried.
TEST(CascadeMessages, AttnNodeRefusesRowsOfTheWrongKind) {
  const Model& m = stories();
  Plan plan = Plan::make({.alpha = 1, .beta = 2, .c = 0, .delta = 0, .client_head = 0, .protocol = Protocol::kPaper}, m.cfg);
  const int kvd = m.cfg.kv_dim(), F = plan.front_layers(), L = m.cfg.n_layers;
  // One new position p in shard 0: AttnNode (1, 0) has no queries in the step.
  const int p = 1;
  ASSERT_EQ(plan.shard_of(p), 0);
  auto begin = [&](AttnNode& node) {
    Message b;
    b.type = MsgType::kStepBegin;
    b.from = {Role::kClient, 0};
    b.step = 0;
    b.pos_begin = p;
    b.pos_end = p + 1;
    MessageList out;
    node.handle(b, out);
  };
  auto error_of = [](AttnNode& node, const Message& msg) -> std::string {
    MessageList out;
    try {
      node.handle(msg, out);
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  Message rows;
  rows.from = {Role::kComp, 0};
  rows.step = 0;
  rows.layer = F;
  rows.kv_pos = {p};
  {
    AttnNode node(m.cfg, plan, plan.attn_node(1, 0).index);
    begin(node);
    rows.type = MsgType::kAttnRows;
    rows.k.assign(kvd, 0.5f);
    rows.v.assign(kvd, 0.5f);
    const std::string e = error_of(node, rows);
    EXPECT_NE(e.find("came as AttnRows, but this step has no queries for it"), std::string::npos) << e;
  }
  {
    AttnNode node(m.cfg, plan, plan.attn_node(0, 0).index);
    begin(node);
    rows.type = MsgType::kCacheRows;
    rows.k.assign((size_t)(L - F) * kvd, 0.5f);
    rows.v.assign((size_t)(L - F) * kvd, 0.5f);
    const std::string e = error_of(node, rows);
    EXPECT_NE(e.find("came as CacheRows, but this step has queries for it"), std::string::npos) << e;
  }
}

// Cascade's roles on a bus that delivers like a network: each (sender,
// receiver) pair is FIFO, but the next message comes from a random pair, and
// a step returns as soon as the client has its logits, leaving what is still
// in flight (a step's CacheRows) to arrive during later steps.
class NetworkOrderBus : public Backend {
 public:
  NetworkOrderBus(const Model& model, const Plan& plan, uint32_t seed) : client_(model, plan), rng_(seed) {
    for (int r = 0; r < plan.alpha(); ++r) comps_.push_back(std::make_unique<CompNode>(model, plan, r, 0, client_.session_secret()));
    for (int i = 0; i < plan.n_attn(); ++i) attns_.push_back(std::make_unique<AttnNode>(model.cfg, plan, i));
  }
  void step(const int32_t* tokens, int n, bool all_rows, std::vector<float>& logits) override {
    MessageList out;
    client_.begin_step(tokens, n, all_rows, out);
    enqueue(out);
    while (!client_.step_done()) {
      ASSERT_FALSE(queues_.empty()) << "the step stalled";
      auto it = std::next(queues_.begin(), std::uniform_int_distribution<size_t>(0, queues_.size() - 1)(rng_));
      Message m = std::move(it->second.front());
      it->second.pop_front();
      if (it->second.empty()) queues_.erase(it);
      // A later step's message to an AttnNode while an earlier step's is still in flight to it.
      if (m.to.role == Role::kAttn)
        for (const auto& [pair, q] : queues_)
          if (pair.second == m.to && !q.empty() && q.front().step < m.step) ++overtakes_;
      MessageList replies;
      switch (m.to.role) {
        case Role::kClient: client_.handle(m, replies); break;
        case Role::kComp: comps_.at(m.to.index)->handle(std::move(m), replies); break;
        case Role::kAttn: attns_.at(m.to.index)->handle(std::move(m), replies); break;
      }
      enqueue(replies);
    }
    logits = client_.logits();
  }
  int position() const override { return client_.position(); }
  int overtakes() const { return overtakes_; }

 private:
  void enqueue(MessageList& l) {
    for (Message& m : l.msgs) queues_[{m.from, m.to}].push_back(std::move(m));
  }
  Client client_;
  std::vector<std::unique_ptr<CompNode>> comps_;
  std::vector<std::unique_ptr<AttnNode>> attns_;
  std::map<std::pair<NodeId, NodeId>, std::deque<Message>> queues_;
  std::mt19937 rng_;
  int overtakes_ = 0;
};

// Exact under any interleaving a network allows, including a step's rows
// overtaking the previous step's CacheRows at an AttnNode.
TEST(CascadeMessages, ExactInNetworkOrder) {
  const Model& m = stories();
  int overtakes = 0;
  for (PlanSpec spec : {PlanSpec{.alpha = 2, .beta = 3, .c = 6, .delta = 3}, PlanSpec{.alpha = 4, .beta = 4, .c = 6, .delta = 3},
                        PlanSpec{.alpha = 3, .beta = 2, .c = 0, .delta = 1, .front_layers = 0},
                        PlanSpec{.alpha = 2, .beta = 3, .c = 6, .delta = 3, .protocol = Protocol::kPaper},
                        PlanSpec{.alpha = 3, .beta = 2, .c = 0, .delta = 1, .front_layers = 0, .protocol = Protocol::kPaper}}) {
    const Plan plan = Plan::make(spec, m.cfg);
    for (uint32_t seed : {1u, 2u, 3u}) {
      SCOPED_TRACE(std::string(protocol_name(spec.protocol)) + " alpha=" + std::to_string(spec.alpha) +
                   " beta=" + std::to_string(spec.beta) + " seed=" + std::to_string(seed));
      NetworkOrderBus bus(m, plan, seed);
      testing::expect_matches_plain(m, bus, random_prompt(23, m.cfg.vocab_size, seed), 24);
      overtakes += bus.overtakes();
    }
  }
  EXPECT_GT(overtakes, 0) << "the bus never delivered a later step's message first";
}

TEST(CascadeGolden, Stories260KGoldensThroughThe72NodePlan) {
  // The goldens' forty_tokens case, through Cascade with α = β = 8.
  const Model& m = stories();
  Plan plan = Plan::make({.alpha = 8, .beta = 8, .c = 6, .delta = 3}, m.cfg);
  ASSERT_TRUE(plan.is_private());
  LocalCluster cluster(m, plan);
  std::vector<int32_t> prompt = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 268, 414, 422, 395,
                                 326, 426, 346, 397, 355, 267, 337, 335, 345, 352, 266, 268, 388, 322,
                                 265, 298, 295, 418, 302, 344, 363, 328, 426, 346, 286, 393};
  std::vector<float> logits;
  cluster.step(prompt.data(), (int)prompt.size(), false, logits);
  std::vector<int32_t> got;
  for (int i = 0; i < 32; ++i) {
    int32_t t = argmax(logits.data(), m.cfg.vocab_size);
    got.push_back(t);
    cluster.step(&t, 1, false, logits);
  }
  // greedy_ids of golden.json's forty_tokens case (llama2.c run.c).
  std::ifstream f(testing::shared_path("models/stories260K/golden.json"));
  auto g = nlohmann::json::parse(f);
  EXPECT_EQ(got, g["cases"][2]["greedy_ids"].get<std::vector<int32_t>>());
}

}  // namespace
}  // namespace cascade
