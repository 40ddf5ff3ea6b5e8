// Failover: generation that survives lost nodes while spares last.
//
// Real node processes (cascade_node_test_bin) with spares. Mid-generation a
// CompNode and an AttnNode are SIGKILLed and one node is SIGSTOPped (found
// by the client's health probe); FailoverBackend moves to spares and the
// output stays identical to the plaintext engine's (tests/backend_compare.h).
// With no spare left, the clear error of a lost node remains. And the
// manifest's "spares" field: round trip and clear errors.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "model/loader.h"
#include "net/manifest.h"
#include "rpc/failover_backend.h"
#include "rpc/local_process_cluster.h"
#include "tests/backend_compare.h"
#include "tests/test_util.h"
#include "util/atomic_file.h"
#include "util/error.h"

namespace cascade {
namespace {

using Clock = std::chrono::steady_clock;

const std::string& model_path() { return testing::stories260k_path(); }
const Model& stories() { return testing::stories260k(); }

// Deadlines short enough that a frozen node is found in ~3 s.
RemoteClusterOptions quick(const LocalProcessCluster& c) {
  RemoteClusterOptions o;
  o.tls = c.client_identity();
  o.link.rpc_deadline = std::chrono::seconds(2);
  o.step_deadline = std::chrono::seconds(15);
  o.stall_probe = std::chrono::milliseconds(500);
  return o;
}

Plan plan(int alpha, int beta) {
  return Plan::make({.alpha = alpha, .beta = beta, .c = 0, .delta = 2, .front_layers = 1, .public_prefix = 1,
                     .client_head = -1},
                    stories().cfg);
}

// A Backend that runs `before[k]` just before its k-th step, then steps `inner`.
class Chaos : public Backend {
 public:
  Chaos(Backend& inner, std::map<int, std::function<void()>> before) : inner_(inner), before_(std::move(before)) {}
  void step(const int32_t* tokens, int n, bool all_rows, std::vector<float>& logits) override {
    if (auto it = before_.find(steps_++); it != before_.end()) it->second();
    inner_.step(tokens, n, all_rows, logits);
  }
  int position() const override { return inner_.position(); }

 private:
  Backend& inner_;
  std::map<int, std::function<void()>> before_;
  int steps_ = 0;
};

struct Notices {
  std::mutex mu;
  std::vector<std::string> lines;
  FailoverBackend::Notice sink() {
    return [this](const std::string& l) {
      std::lock_guard<std::mutex> lock(mu);
      lines.push_back(l);
      std::printf("[ failover ] %s\n", l.c_str());
    };
  }
};

TEST(Failover, KilledAndFrozenNodesContinueOnSparesExactly) {
  LocalProcessCluster nodes(
      {.node_binary = CASCADE_NODE_BIN, .model_path = model_path(), .n_comp = 2, .n_attn = 4, .n_spares = 2});
  const Plan p = plan(2, 2);
  const RemoteClusterOptions o = quick(nodes);
  auto pool = nodes.spare_pool(stories(), p.spec(), o.link);
  const std::vector<SpareNode> spares = nodes.spares();
  ASSERT_EQ(spares.size(), 4u);
  Notices notices;
  FailoverBackend backend(stories(), p, pool, o, notices.sink());

  // The AttnNode (s, s) of the next position's shard has work in the step.
  auto busy_attn = [&] {
    const int s = p.shard_of(backend.position());
    return NodeId{Role::kAttn, s * p.beta() + s};
  };
  std::vector<std::string> victims;  // "comp1 at ADDR", in order
  auto victim = [&](NodeId id) {
    const std::string addr = pool->placement().nodes.at(id);
    victims.push_back(id.name(p.beta()) + " at " + addr);
    return addr;
  };
  pid_t frozen = -1;
  double stop_at = 0, frozen_step_s = 0;
  Chaos chaos(backend, {
                           {3, [&] { nodes.kill_at(victim({Role::kComp, 1})); }},
                           {6, [&] { nodes.kill_at(victim(busy_attn())); }},
                           {9, [&] {
                              frozen = nodes.pid_at(victim(busy_attn()));
                              ASSERT_GT(frozen, 0);
                              kill(frozen, SIGSTOP);
                              stop_at = std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
                            }},
                           {10, [&] {
                              frozen_step_s =
                                  std::chrono::duration<double>(Clock::now().time_since_epoch()).count() - stop_at;
                            }},
                       });
  const auto t0 = Clock::now();
  testing::expect_matches_plain(stories(), chaos, testing::random_prompt(24, stories().cfg.vocab_size, 5), 16);
  std::printf("[ failover ] prompt 24 + 16 tokens, 3 failovers, in %.2f s; the frozen node's step took %.2f s\n",
              std::chrono::duration<double>(Clock::now() - t0).count(), frozen_step_s);
  if (frozen > 0) kill(frozen, SIGKILL);  // the cluster reaps it

  // One line per lost node, naming it and the spare that took its place.
  ASSERT_EQ(notices.lines.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    const std::string& l = notices.lines[i];
    EXPECT_EQ(l.rfind("cascade: " + victims[i] + " failed (", 0), 0u) << l;
    EXPECT_NE(l.find("); continuing on spare 127.0.0.1:"), std::string::npos) << l;
  }
  EXPECT_NE(notices.lines[0].find("unreachable"), std::string::npos) << notices.lines[0];
  EXPECT_NE(notices.lines[2].find("no answer within 2000 ms"), std::string::npos) << notices.lines[2];
  EXPECT_EQ(backend.stats().failovers, 3);
  EXPECT_LT(frozen_step_s, 12.0);  // found by the health probe, not the step deadline
  // Spares of both roles were used: one CompNode spare, two AttnNode spares.
  EXPECT_EQ(pool->spares_left(Role::kComp), 1);
  EXPECT_EQ(pool->spares_left(Role::kAttn), 0);
  const Placement now = pool->placement();
  EXPECT_EQ(now.identities.at({Role::kComp, 1}), "comp-spare0");
  EXPECT_EQ(now.identities.size(), 3u);
}

TEST(Failover, NoSpareLeftKeepsTheClearError) {
  LocalProcessCluster nodes({.node_binary = CASCADE_NODE_BIN, .model_path = model_path(), .n_comp = 1, .n_attn = 1});
  const Plan p = plan(1, 1);
  const RemoteClusterOptions o = quick(nodes);
  Notices notices;
  FailoverBackend backend(stories(), p, nodes.spare_pool(stories(), p.spec(), o.link), o, notices.sink());
  const auto prompt = testing::random_prompt(10, stories().cfg.vocab_size, 9);
  std::vector<float> logits;
  backend.step(prompt.data(), (int)prompt.size(), false, logits);
  const std::string addr = nodes.address(Role::kAttn, 0);
  nodes.kill_node(Role::kAttn, 0);
  std::string e = "no error";
  const auto t0 = Clock::now();
  try {
    int32_t t = 5;
    for (int i = 0; i < 5; ++i) backend.step(&t, 1, false, logits);
  } catch (const Error& err) {
    e = err.what();
  }
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 10.0);
  EXPECT_NE(e.find("attn(0,0) at " + addr), std::string::npos) << e;
  EXPECT_NE(e.find("unreachable"), std::string::npos) << e;
  EXPECT_NE(e.find("no spare AttnNode is left to take its place"), std::string::npos) << e;
  EXPECT_TRUE(notices.lines.empty());
}

TEST(Failover, ManifestSpares) {
  LocalProcessCluster nodes(
      {.node_binary = CASCADE_NODE_BIN, .model_path = model_path(), .n_comp = 1, .n_attn = 1, .n_spares = 1});
  const ClusterManifest m = nodes.manifest(plan(1, 1).spec());
  ASSERT_EQ(m.spares.size(), 2u);
  const nlohmann::json j = manifest_to_json(m);
  const ClusterManifest back = parse_manifest(j);
  ASSERT_EQ(back.spares.size(), 2u);
  EXPECT_EQ(back.spares[0].address, m.spares[0].address);
  EXPECT_EQ(back.spares[1].role, m.spares[1].role);
  auto error_of = [](nlohmann::json bad) {
    try {
      parse_manifest(bad);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  nlohmann::json bad = j;
  bad["spares"][1]["address"] = m.nodes.at({Role::kComp, 0});
  EXPECT_NE(error_of(bad).find("is also a node of the plan"), std::string::npos) << error_of(bad);
  bad = j;
  bad["spares"][0]["index"] = 0;
  EXPECT_NE(error_of(bad).find("a spare has no place in the plan"), std::string::npos) << error_of(bad);
  bad = j;
  bad["spares"][0]["role"] = "client";
  EXPECT_NE(error_of(bad).find("spares[0].role must be"), std::string::npos) << error_of(bad);
  bad = j;
  bad["spares"] = "127.0.0.1:5";
  EXPECT_NE(error_of(bad).find("\"spares\" must be an array"), std::string::npos) << error_of(bad);

  // The manifest's spares take over: kill the CompNode before the first step.
  const std::string dir = testing::temp_dir();
  write_file_atomic(dir + "/cluster.json", j.dump(2));
  RemoteClusterOptions o = quick(nodes);
  Notices notices;
  auto backend = FailoverBackend::from_manifest(stories(), load_manifest(dir + "/cluster.json"), o, notices.sink());
  nodes.kill_node(Role::kComp, 0);
  testing::expect_matches_plain(stories(), *backend, testing::random_prompt(12, stories().cfg.vocab_size, 3), 6);
  ASSERT_EQ(notices.lines.size(), 1u);
  EXPECT_NE(notices.lines[0].find("comp0 at "), std::string::npos);
}

}  // namespace
}  // namespace cascade
