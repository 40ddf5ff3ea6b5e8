// Bounded nodes (docs/RELIABILITY.md, "Limits"): what one client may make a
// node hold, and which certificates a node and a client accept.
//
// Each limit refuses with one line naming the node, the limit and its flag;
// sessions of other clients on the same nodes finish with exact output
// (tests/backend_compare.h); a hostile client that opens and fills
// sessions in a loop leaves the node's RSS under its budget. Only a
// certificate named "client" opens sessions; expired and revoked
// certificates are refused on both sides.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "model/loader.h"
#include "net/certs.h"
#include "net/manifest.h"
#include "rpc/local_process_cluster.h"
#include "rpc/node_daemon.h"
#include "rpc/node_server.h"
#include "rpc/wire.h"
#include "tests/backend_compare.h"
#include "tests/test_util.h"
#include "util/atomic_file.h"
#include "util/error.h"

namespace cascade {
namespace {

using testing::random_prompt;

const std::string& model_path() { return testing::stories260k_path(); }
const Model& stories() { return testing::stories260k(); }

Plan plan(int alpha, int beta, int horizon = 0, Protocol protocol = Protocol::kPrivate) {
  return Plan::make({.alpha = alpha, .beta = beta, .c = 0, .delta = 0, .front_layers = 1, .public_prefix = 1,
                     .client_head = 0, .horizon = horizon, .protocol = protocol},
                    stories().cfg);
}

// A CA of the test's own and identities signed by it.
struct Pki {
  CertAndKey ca = make_ca("limits test CA");
  TlsIdentity identity(const std::string& name, int valid_days = 2, int starts_in_days = 0) const {
    const CertAndKey leaf = make_leaf(ca, name, {}, valid_days, starts_in_days);
    return {ca.cert_pem, leaf.cert_pem, leaf.key_pem};
  }
};

RemoteClusterOptions quick(const TlsIdentity& tls) {
  RemoteClusterOptions o;
  o.tls = tls;
  o.link.rpc_deadline = std::chrono::seconds(5);
  o.step_deadline = std::chrono::seconds(15);
  o.stall_probe = std::chrono::milliseconds(500);
  return o;
}

// In-process nodes for plans up to α = 1 CompNode and β² AttnNodes.
struct Nodes {
  Nodes(const Pki& pki, int n_attn, NodeLimits limits = {}, std::chrono::milliseconds idle = std::chrono::minutes(10),
        const std::string& crl_pem = "") {
    auto make = [&](Role role, const std::string& name) {
      NodeServerOptions o;
      o.role = role;
      o.model = role == Role::kComp ? &stories() : nullptr;
      o.tls = pki.identity(name);
      o.tls.crl_pem = crl_pem;
      o.link.rpc_deadline = std::chrono::seconds(5);
      o.limits = limits;
      o.idle_timeout = idle;
      return std::make_unique<NodeServer>(o);
    };
    comp = make(Role::kComp, "comp0");
    for (int i = 0; i < n_attn; ++i) attn.push_back(make(Role::kAttn, "attn" + std::to_string(i)));
  }
  AddressBook book() const {
    AddressBook b{{{Role::kComp, 0}, comp->address()}};
    for (size_t i = 0; i < attn.size(); ++i) b[{Role::kAttn, (int)i}] = attn[i]->address();
    return b;
  }
  std::unique_ptr<RemoteCluster> connect(const Plan& p, const TlsIdentity& tls) const {
    return std::make_unique<RemoteCluster>(stories(), p, book(), quick(tls));
  }
  std::unique_ptr<NodeServer> comp;
  std::vector<std::unique_ptr<NodeServer>> attn;
};

using testing::error_of;

// OpenSession on `address` for `self`, sent by `tls`'s owner as a hostile
// client would: one RPC, no client server behind the address map.
grpc::Status open_raw(const std::string& address, const TlsIdentity& tls, const Plan& p, NodeId self,
                      uint64_t session) {
  wire::SessionSetup s;
  s.set_session(session);
  to_wire(p.spec(), s.mutable_plan());
  s.set_model_sha256(stories().file_sha256);
  to_wire(stories().cfg, s.mutable_dims());
  to_wire(self, s.mutable_self());
  for (const NodeId& n : p.nodes()) {
    auto* peer = s.add_peers();
    to_wire(n, peer->mutable_id());
    peer->set_address(n == self ? address : "127.0.0.1:9");
  }
  auto* client = s.add_peers();
  to_wire(NodeId{Role::kClient, 0}, client->mutable_id());
  client->set_address("127.0.0.1:9");
  PeerChannels ch(channel_credentials(tls), {.rpc_deadline = std::chrono::seconds(5)});
  auto ctx = ch.context();
  wire::Ack ack;
  return ch.stub(address).OpenSession(ctx.get(), s, &ack);
}

grpc::Status deliver(const std::string& address, const Message& m, const TlsIdentity& tls) {
  wire::Envelope env;
  to_wire(m, &env);
  PeerChannels ch(channel_credentials(tls), {.rpc_deadline = std::chrono::seconds(5)});
  auto ctx = ch.context();
  auto stream = ch.stub(address).Link(ctx.get());
  stream->Write(env);
  stream->WritesDone();
  return stream->Finish();
}

void expect_has(const std::string& s, const std::string& part) {
  EXPECT_NE(s.find(part), std::string::npos) << "missing \"" << part << "\" in: " << s;
}

// ---- limits ----

TEST(Limits, SessionsPerNodeAreCapped) {
  Pki pki;
  const TlsIdentity client = pki.identity("client");
  NodeLimits lim;
  lim.max_sessions = 3;
  Nodes nodes(pki, 1, lim);
  const Plan p = plan(1, 1);
  // A client opening sessions in a loop: the fourth is refused, by name.
  std::vector<std::unique_ptr<RemoteCluster>> open;
  std::string e;
  for (int i = 0; i < 10 && e.empty(); ++i) {
    try {
      open.push_back(nodes.connect(p, client));
    } catch (const Error& err) {
      e = err.what();
    }
  }
  std::printf("[ limits   ] %s\n", e.c_str());
  EXPECT_EQ(open.size(), 3u);
  expect_has(e, "refused the session: 3 sessions are open, this node's limit (--max-sessions 3); try later or raise "
                "--max-sessions");
  expect_has(e, " at " + nodes.comp->address());
  EXPECT_EQ(e.find('\n'), std::string::npos);
  EXPECT_EQ(nodes.comp->open_sessions(), 3);
  EXPECT_EQ(nodes.attn[0]->open_sessions(), 3);  // the refused client closed what it had opened
  // The sessions already open are untouched: exact output.
  testing::expect_matches_plain(stories(), *open[1], random_prompt(30, stories().cfg.vocab_size, 1), 16);
  // A hostile client's raw opens get the same answer; a closed session frees a place.
  const std::string attn = nodes.attn[0]->address();
  const grpc::Status st = open_raw(attn, client, p, {Role::kAttn, 0}, 77);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
  expect_has(st.error_message(), "attn(0,0) at " + attn + " refused the session: 3 sessions are open");
  open.pop_back();
  EXPECT_TRUE(open_raw(attn, client, p, {Role::kAttn, 0}, 77).ok());
}

TEST(Limits, HugeHorizonsAndStateAreRefusedUpfront) {
  Pki pki;
  const TlsIdentity client = pki.identity("client");
  NodeLimits lim;
  lim.max_positions = 4096;
  lim.max_session_bytes = 8 << 20;
  lim.max_state_bytes = 12 << 20;
  Nodes nodes(pki, 1, lim);
  const std::string attn = nodes.attn[0]->address();
  // Over the position cap.
  std::string e = error_of([&] { nodes.connect(plan(1, 1, 1 << 20), client); });
  std::printf("[ limits   ] %s\n", e.c_str());
  expect_has(e, "refused the session: its horizon is 1048576 positions, over this node's limit of 4096 "
                "(--max-positions)");
  // Within it, but its KV cache would be over the session's state limit.
  const Plan wide = plan(1, 1, 4096);
  const int64_t bound = session_state_bound(wide, stories().cfg, {Role::kAttn, 0}, lim.max_rows);
  ASSERT_GT(bound, lim.max_session_bytes);
  const grpc::Status st = open_raw(attn, client, wide, {Role::kAttn, 0}, 5);
  std::printf("[ limits   ] %s\n", st.error_message().c_str());
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  expect_has(st.error_message(), "attn(0,0) at " + attn + " refused the session: it may hold up to ");
  expect_has(st.error_message(), "per session (--max-session-mib 8); use a shorter horizon");
  // Sessions that fit one by one, until the node's total is reached.
  const Plan fits = plan(1, 1, 1024);
  const int64_t each = session_state_bound(fits, stories().cfg, {Role::kAttn, 0}, lim.max_rows);
  ASSERT_LE(each, lim.max_session_bytes);
  const int expect_open = (int)(lim.max_state_bytes / each);
  ASSERT_GE(expect_open, 1);
  grpc::Status last;
  int opened = 0;
  for (uint64_t id = 10; id < 30 && (last = open_raw(attn, client, fits, {Role::kAttn, 0}, id)).ok(); ++id) ++opened;
  std::printf("[ limits   ] %d sessions of %.1f MiB fit; then: %s\n", opened, each / 1048576.0,
              last.error_message().c_str());
  EXPECT_EQ(opened, expect_open);
  EXPECT_EQ(last.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  expect_has(last.error_message(), "(--max-state-mib 12); try later or raise --max-state-mib");
  EXPECT_EQ(nodes.attn[0]->open_sessions(), opened);
}

TEST(Limits, RowsAndPositionsPerMessageAreCapped) {
  Pki pki;
  const TlsIdentity client = pki.identity("client");
  NodeLimits lim;
  lim.max_rows = 32;
  Nodes nodes(pki, 1, lim);
  const Model& m = stories();
  const Plan p = plan(1, 1, 200);
  auto bystander = nodes.connect(p, client);
  auto greedy = nodes.connect(p, client);
  // A 40-position step: refused by name, at once.
  const auto prompt = random_prompt(40, m.cfg.vocab_size, 3);
  std::vector<float> logits;
  const std::string e = error_of([&] { greedy->step(prompt.data(), (int)prompt.size(), true, logits); });
  std::printf("[ limits   ] %s\n", e.c_str());
  expect_has(e, "40 rows, over this node's limit of 32 per message (--max-rows); send fewer positions per step or "
                "raise --max-rows");
  // A position past the session's horizon, sent as the client would.
  Message far;
  far.type = MsgType::kStepBegin;
  far.from = {Role::kClient, 0};
  far.to = {Role::kAttn, 0};
  auto other = nodes.connect(p, client);
  far.session = other->session();
  far.pos_begin = 250;
  far.pos_end = 251;
  const grpc::Status st = deliver(nodes.attn[0]->address(), far, client);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
  expect_has(st.error_message(), "position 250 is beyond the session's horizon of 200 positions");
  // The bystander, in steps under the cap, is exact.
  testing::expect_matches_plain(m, *bystander, random_prompt(30, m.cfg.vocab_size, 4), 16);
}

// What a session actually holds is counted after every message: a client
// that begins step after step on an AttnNode (each one's bookkeeping kept
// until its rows come, which they never do) outgrows the upfront bound and
// the session is ended, by name, and freed.
// Begins step after step of session 42 on `attn` until the node ends the
// stream (or 100000 were sent); returns its status.
grpc::Status begin_steps_until_refused(const std::string& attn, const TlsIdentity& client, int* sent) {
  PeerChannels ch(channel_credentials(client), {.rpc_deadline = std::chrono::seconds(5)});
  auto ctx = ch.context();
  auto stream = ch.stub(attn).Link(ctx.get());
  for (*sent = 0; *sent < 100000; ++*sent) {
    Message m;
    m.type = MsgType::kStepBegin;
    m.from = {Role::kClient, 0};
    m.to = {Role::kAttn, 0};
    m.session = 42;
    m.step = *sent;
    m.pos_begin = 1;
    m.pos_end = 2;
    wire::Envelope env;
    to_wire(m, &env);
    if (!stream->Write(env)) break;  // the node ended the stream
  }
  stream->WritesDone();
  return stream->Finish();
}

TEST(Limits, ActualGrowthPastTheLimitEndsTheSession) {
  Pki pki;
  const TlsIdentity client = pki.identity("client");
  const Plan p = plan(1, 1, 64);
  // Past the per-session limit; then, with a per-session limit out of
  // reach, past the node's total.
  for (bool total : {false, true}) {
    NodeLimits lim;
    lim.max_session_bytes = total ? 64 << 20 : 512 << 10;
    lim.max_state_bytes = total ? 512 << 10 : 64 << 20;
    Nodes nodes(pki, 1, lim);
    ASSERT_LT(session_state_bound(p, stories().cfg, {Role::kAttn, 0}, lim.max_rows), 512 << 10);
    const std::string attn = nodes.attn[0]->address();
    ASSERT_TRUE(open_raw(attn, client, p, {Role::kAttn, 0}, 42).ok());
    int sent = 0;
    const grpc::Status st = begin_steps_until_refused(attn, client, &sent);
    std::printf("[ limits   ] after %d step begins: %s\n", sent, st.error_message().c_str());
    EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
    expect_has(st.error_message(), "attn(0,0) at " + attn + " ended the session: ");
    expect_has(st.error_message(), total ? "over this node's total of 512.0 KiB (--max-state-mib)"
                                         : "over this node's limit of 512.0 KiB per session (--max-session-mib)");
    EXPECT_LT(sent, 100000);
    EXPECT_EQ(nodes.attn[0]->open_sessions(), 0);
  }
}

// The bound OpenSession checks is an upper bound of what honest sessions
// actually hold, in both protocols (so the runtime check never ends one).
TEST(Limits, StateBoundCoversWhatSessionsHold) {
  Pki pki;
  const TlsIdentity client = pki.identity("client");
  Nodes nodes(pki, 4);
  const Model& m = stories();
  for (Protocol protocol : {Protocol::kPrivate, Protocol::kPaper}) {
    const Plan p = plan(1, 2, 0, protocol);
    auto remote = nodes.connect(p, client);
    testing::expect_matches_plain(m, *remote, random_prompt(200, m.cfg.vocab_size, 5), 64);
    const int64_t attn_held = nodes.attn[0]->held_bytes();
    const int64_t attn_bound = session_state_bound(p, m.cfg, {Role::kAttn, 0}, NodeLimits{}.max_rows);
    const int64_t comp_bound = session_state_bound(p, m.cfg, {Role::kComp, 0}, NodeLimits{}.max_rows);
    std::printf("[ limits   ] %s: attn(0,0) holds %lld of its bound %lld bytes; comp0 %lld of %lld\n",
                protocol_name(protocol), (long long)attn_held, (long long)attn_bound,
                (long long)nodes.comp->held_bytes(), (long long)comp_bound);
    EXPECT_GT(attn_held, 0);
    EXPECT_LE(attn_held, attn_bound);
    EXPECT_LE(nodes.comp->held_bytes(), comp_bound);
  }
}

// The default limits admit a Llama-3-8B-shaped session at the default
// horizon on the default plan (and print what a 32768-position horizon
// would take: over the default, so such a node needs --max-session-mib
// raised or --max-rows lowered).
TEST(Limits, DefaultsAdmitAnEightBillionModel) {
  ModelConfig c;
  c.dim = 4096, c.hidden_dim = 14336, c.n_layers = 32, c.n_heads = 32, c.n_kv_heads = 8, c.head_dim = 128;
  c.context_length = 131072;
  const NodeLimits lim;
  for (int horizon : {4096, 32768}) {
    const Plan p = Plan::make({.horizon = horizon}, c);  // α = β = 4, c = 6, δ = 3
    const int64_t attn = session_state_bound(p, c, {Role::kAttn, 0}, lim.max_rows);
    const int64_t comp = session_state_bound(p, c, {Role::kComp, 0}, lim.max_rows);
    std::printf("[ limits   ] 8B shape, horizon %d: AttnNode bound %s, CompNode bound %s (limit %s)\n", horizon,
                format_bytes(attn).c_str(), format_bytes(comp).c_str(), format_bytes(lim.max_session_bytes).c_str());
    if (horizon == 4096) {
      EXPECT_LE(attn, lim.max_session_bytes);
      EXPECT_LE(comp, lim.max_session_bytes);
    }
  }
}

TEST(Limits, IdleSessionsAreClosed) {
  Pki pki;
  const TlsIdentity client = pki.identity("client");
  Nodes nodes(pki, 1, {}, std::chrono::milliseconds(200));
  const Model& m = stories();
  auto idle = nodes.connect(plan(1, 1), client);
  std::vector<float> logits;
  const auto prompt = random_prompt(20, m.cfg.vocab_size, 6);
  idle->step(prompt.data(), (int)prompt.size(), false, logits);
  EXPECT_GT(nodes.attn[0]->held_bytes(), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(900));
  EXPECT_EQ(nodes.attn[0]->open_sessions(), 0);
  EXPECT_EQ(nodes.comp->open_sessions(), 0);
  EXPECT_EQ(nodes.attn[0]->held_bytes(), 0);
  int32_t tok = 5;
  const std::string e = error_of([&] { idle->step(&tok, 1, false, logits); });
  expect_has(e, "idle too long");
}

// A node serving session after session keeps no channel per past client:
// each client session calls from an address (port) of its own.
TEST(Limits, ClosedSessionsLeaveNoClientChannels) {
  Pki pki;
  const TlsIdentity client = pki.identity("client");
  Nodes nodes(pki, 1, {});
  const Model& m = stories();
  const auto prompt = random_prompt(10, m.cfg.vocab_size, 8);
  std::vector<float> logits;
  auto settle = [&] {  // the reaper frees closed sessions in the background
    for (int i = 0; i < 200 && (nodes.comp->open_sessions() > 0 || nodes.attn[0]->open_sessions() > 0); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  };
  {
    auto first = nodes.connect(plan(1, 1), client);
    first->step(prompt.data(), (int)prompt.size(), false, logits);
  }
  settle();
  const int comp_base = nodes.comp->peer_channels(), attn_base = nodes.attn[0]->peer_channels();
  for (int i = 0; i < 6; ++i) {
    auto s = nodes.connect(plan(1, 1), client);
    s->step(prompt.data(), (int)prompt.size(), false, logits);
  }
  settle();
  EXPECT_EQ(nodes.comp->open_sessions(), 0);
  EXPECT_EQ(nodes.comp->peer_channels(), comp_base);
  EXPECT_EQ(nodes.attn[0]->peer_channels(), attn_base);
}

TEST(Limits, DaemonFlags) {
  const NodeDaemonOptions o = parse_node_daemon_args(
      {"--role", "attn", "--cert", "c", "--key", "k", "--ca", "a", "--max-sessions", "5", "--max-session-mib", "7",
       "--max-state-mib", "9", "--max-positions", "100", "--max-rows", "11", "--crl", "crl.pem"});
  EXPECT_EQ(o.max_sessions, 5);
  EXPECT_EQ(o.max_session_mib, 7);
  EXPECT_EQ(o.max_state_mib, 9);
  EXPECT_EQ(o.max_positions, 100);
  EXPECT_EQ(o.max_rows, 11);
  EXPECT_EQ(o.crl, "crl.pem");
  const std::string e = error_of([] {
    parse_node_daemon_args({"--role", "attn", "--cert", "c", "--key", "k", "--ca", "a", "--max-rows", "0"});
  });
  EXPECT_EQ(e, "node: --max-rows needs a positive integer, not \"0\"");
}

// ---- a hostile client against node processes: RSS ----

long rss_kib(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

struct AttackResult {
  long rss0_kib = 0, peak_kib = 0;
  int opened = 0, refused = 0;
  std::string refusal;
};

// Opens `attempts` sessions in a loop on one CompNode and one AttnNode
// process, keeps every one it gets and fills its KV cache to the model's
// context (500 positions), while an honest client's session generates
// alongside; the AttnNode's RSS is sampled after each.
AttackResult attack(const std::vector<std::string>& node_args, int attempts) {
  LocalProcessCluster own({.node_binary = CASCADE_NODE_BIN, .model_path = model_path(), .n_comp = 1, .n_attn = 1,
                           .extra_node_args = node_args});
  const Model& m = stories();
  const Plan p = plan(1, 1);
  const pid_t attn = own.pid(Role::kAttn, 0);
  AttackResult r;
  {  // warm-up: one session through, so gRPC's and the allocator's first buffers are in the baseline
    auto warm = own.connect(m, p);
    std::vector<float> logits;
    const auto prompt = random_prompt(500, m.cfg.vocab_size, 1);
    warm->step(prompt.data(), (int)prompt.size(), false, logits);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  r.rss0_kib = r.peak_kib = rss_kib(attn);
  auto honest = own.connect(m, p);
  std::thread bystander(
      [&] { testing::expect_matches_plain(m, *honest, random_prompt(100, m.cfg.vocab_size, 2), 64); });
  std::vector<std::unique_ptr<RemoteCluster>> held;
  for (int i = 0; i < attempts; ++i) {
    try {
      held.push_back(own.connect(m, p));
      std::vector<float> logits;
      const auto prompt = random_prompt(500, m.cfg.vocab_size, 100 + i);
      held.back()->step(prompt.data(), (int)prompt.size(), false, logits);
      ++r.opened;
    } catch (const Error& e) {
      ++r.refused;
      if (r.refusal.empty()) r.refusal = e.what();
    }
    r.peak_kib = std::max(r.peak_kib, rss_kib(attn));
  }
  bystander.join();
  return r;
}

TEST(Limits, HostileClientLeavesRssUnderBudget) {
  const int attempts = 48;
  const long budget_mib = 8;
  const AttackResult limited =
      attack({"--max-session-mib", "4", "--max-state-mib", std::to_string(budget_mib)}, attempts);
  std::printf("[ limits   ] limited (--max-state-mib %ld): %d sessions kept, %d refused; AttnNode RSS %.1f -> peak "
              "%.1f MiB\n[ limits   ] first refusal: %s\n",
              budget_mib, limited.opened, limited.refused, limited.rss0_kib / 1024.0, limited.peak_kib / 1024.0,
              limited.refusal.c_str());
  EXPECT_GT(limited.refused, 0);
  expect_has(limited.refusal, "--max-state-mib");
  // The sessions' state is within the budget; gRPC's per-session buffers
  // (a few hundred KiB each, outside the state the budget counts) are not.
  const long slack_mib = 16;
  EXPECT_LE(limited.peak_kib - limited.rss0_kib, (budget_mib + slack_mib) * 1024);
  // The same loop against a node whose limits are out of reach grows it far
  // past that: the attack is real, and the limits are what stop it.
  const AttackResult open = attack({"--max-sessions", "1000", "--max-state-mib", "100000"}, attempts);
  std::printf("[ limits   ] unlimited: %d sessions kept; AttnNode RSS %.1f -> peak %.1f MiB\n", open.opened,
              open.rss0_kib / 1024.0, open.peak_kib / 1024.0);
  EXPECT_EQ(open.refused, 0);
  EXPECT_GT(open.peak_kib - open.rss0_kib, (budget_mib + slack_mib) * 1024);
}

// ---- certificates ----

TEST(Certificates, OnlyClientCertificatesOpenSessions) {
  Pki pki;
  Nodes nodes(pki, 1);
  const Plan p = plan(1, 1);
  for (const std::string name : {"comp0", "attn0", "attn1", "intruder"}) {
    const grpc::Status st = open_raw(nodes.attn[0]->address(), pki.identity(name), p, {Role::kAttn, 0}, 9);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << name << ": " << st.error_message();
    expect_has(st.error_message(), "came over TLS as '" + name + "'; its certificate must be named 'client'");
  }
  EXPECT_EQ(nodes.attn[0]->open_sessions(), 0);
  EXPECT_TRUE(open_raw(nodes.attn[0]->address(), pki.identity("client"), p, {Role::kAttn, 0}, 9).ok());
}

TEST(Certificates, ExpiredCertificatesAreRefused) {
  Pki pki;
  Nodes nodes(pki, 1);
  const Plan p = plan(1, 1);
  // A client certificate that expired 20 days ago.
  const TlsIdentity expired = pki.identity("client", 10, -30);
  const grpc::Status st = open_raw(nodes.attn[0]->address(), expired, p, {Role::kAttn, 0}, 3);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
  std::string e = error_of([&] { nodes.connect(p, expired); });
  expect_has(e, "is unreachable");
  EXPECT_EQ(nodes.attn[0]->open_sessions(), 0);
  EXPECT_EQ(nodes.comp->open_sessions(), 0);
  // A node whose certificate has expired: the client will not talk to it.
  NodeServerOptions o;
  o.role = Role::kAttn;
  o.tls = pki.identity("attn0", 10, -30);
  NodeServer stale(o);
  AddressBook book = nodes.book();
  book[{Role::kAttn, 0}] = stale.address();
  e = error_of([&] { RemoteCluster(stories(), p, book, quick(pki.identity("client"))); });
  std::printf("[ limits   ] %s\n", e.c_str());
  expect_has(e, "attn(0,0) at " + stale.address() + " is unreachable");
  EXPECT_EQ(stale.open_sessions(), 0);
  // And with valid certificates, the same nodes serve.
  auto ok = nodes.connect(p, pki.identity("client"));
  testing::expect_matches_plain(stories(), *ok, random_prompt(20, stories().cfg.vocab_size, 7), 4);
}

TEST(Certificates, RevokedCertificatesAreRefused) {
  Pki pki;
  const CertAndKey lost = make_leaf(pki.ca, "client", {}, 2);
  const TlsIdentity revoked{pki.ca.cert_pem, lost.cert_pem, lost.key_pem};
  const std::string crl = make_crl(pki.ca, {lost.cert_pem});
  Nodes nodes(pki, 1, {}, std::chrono::minutes(10), crl);
  const Plan p = plan(1, 1);
  // The node refuses the revoked client certificate...
  const grpc::Status st = open_raw(nodes.attn[0]->address(), revoked, p, {Role::kAttn, 0}, 3);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
  expect_has(error_of([&] { nodes.connect(p, revoked); }), "is unreachable");
  EXPECT_EQ(nodes.comp->open_sessions(), 0);
  // ...and serves another client certificate, exactly.
  auto ok = nodes.connect(p, pki.identity("client"));
  testing::expect_matches_plain(stories(), *ok, random_prompt(20, stories().cfg.vocab_size, 8), 4);
  ok.reset();
  // A node's list covers its peers too: comp0 will not exchange rows with an
  // AttnNode whose certificate it revokes (the client, without the list, opens the session).
  const CertAndKey gone = make_leaf(pki.ca, "attn0", {}, 2);
  NodeServerOptions co;
  co.role = Role::kComp;
  co.model = &stories();
  co.tls = pki.identity("comp0");
  co.tls.crl_pem = make_crl(pki.ca, {gone.cert_pem});
  NodeServer strict_comp(co);
  NodeServerOptions ao;
  ao.role = Role::kAttn;
  ao.tls = {pki.ca.cert_pem, gone.cert_pem, gone.key_pem};
  NodeServer gone_attn(ao);
  {
    RemoteCluster session(stories(), p, {{{Role::kComp, 0}, strict_comp.address()}, {{Role::kAttn, 0}, gone_attn.address()}},
                          quick(pki.identity("client")));
    std::vector<float> logits;
    const auto prompt = random_prompt(10, stories().cfg.vocab_size, 10);
    const std::string e = error_of([&] { session.step(prompt.data(), (int)prompt.size(), false, logits); });
    std::printf("[ limits   ] %s\n", e.c_str());
    expect_has(e, "attn(0,0) at " + gone_attn.address() + " is unreachable");
    expect_has(e, "reported by comp0 at " + strict_comp.address());
  }
  // A client whose list revokes a node's certificate will not talk to that node.
  Nodes fresh(pki, 1);
  const std::string dir = testing::temp_dir();
  TlsIdentity careful = pki.identity("client");
  NodeServerOptions o;
  o.role = Role::kAttn;
  const CertAndKey bad = make_leaf(pki.ca, "attn0", {}, 2);
  o.tls = {pki.ca.cert_pem, bad.cert_pem, bad.key_pem};
  NodeServer stolen(o);
  careful.crl_pem = make_crl(pki.ca, {bad.cert_pem});
  AddressBook book = fresh.book();
  book[{Role::kAttn, 0}] = stolen.address();
  const std::string e = error_of([&] { RemoteCluster(stories(), p, book, quick(careful)); });
  std::printf("[ limits   ] %s\n", e.c_str());
  expect_has(e, "attn(0,0) at " + stolen.address() + " is unreachable");
  EXPECT_EQ(stolen.open_sessions(), 0);
  // The manifest names the list; the client loads it (from_manifest) and refuses the node the same way.
  write_file_atomic(dir + "/ca.pem", pki.ca.cert_pem);
  write_file_atomic(dir + "/crl.pem", careful.crl_pem);
  write_cert_and_key({careful.cert_pem, careful.key_pem}, dir, "client");
  ClusterManifest m;
  m.ca = dir + "/ca.pem";
  m.crl = dir + "/crl.pem";
  m.client_cert = dir + "/client.pem";
  m.client_key = dir + "/client.key";
  m.plan = p.spec();
  m.nodes = book;
  write_file_atomic(dir + "/cluster.json", manifest_to_json(m).dump(2));
  const ClusterManifest back = load_manifest(dir + "/cluster.json");
  EXPECT_EQ(back.crl, m.crl);
  expect_has(error_of([&] { RemoteCluster::from_manifest(stories(), back, quick({})); }),
             "attn(0,0) at " + stolen.address() + " is unreachable");
  // With the genuine node, the same manifest works.
  m.nodes = fresh.book();
  auto good = RemoteCluster::from_manifest(stories(), m, quick({}));
  testing::expect_matches_plain(stories(), *good, random_prompt(20, stories().cfg.vocab_size, 9), 4);
}

TEST(Certificates, RevocationListErrorsAreClear) {
  Pki pki;
  const std::string dir = testing::temp_dir();
  write_file_atomic(dir + "/ca.pem", pki.ca.cert_pem);
  write_cert_and_key(make_leaf(pki.ca, "client"), dir, "client");
  auto load = [&](const std::string& crl_pem) {
    write_file_atomic(dir + "/crl.pem", crl_pem);
    return error_of([&] { load_tls_identity(dir + "/ca.pem", dir + "/client.pem", dir + "/client.key", dir + "/crl.pem"); });
  };
  EXPECT_EQ(load(make_crl(pki.ca, {})), "no error");
  expect_has(load(make_crl(make_ca("another CA"), {})), "revocation list " + dir + "/crl.pem is not signed by the cluster's CA");
  expect_has(load(make_crl(pki.ca, {}, -1)), "is past its next update");
  expect_has(load("hello"), "revocation list " + dir + "/crl.pem is not a PEM file");
  const std::string e = error_of([&] { load_tls_identity(dir + "/ca.pem", dir + "/client.pem", dir + "/client.key", dir + "/none.pem"); });
  expect_has(e, "cannot read revocation list " + dir + "/none.pem");
}

}  // namespace
}  // namespace cascade
