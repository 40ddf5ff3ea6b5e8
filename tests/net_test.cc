// Cascade over gRPC + mutual TLS on loopback, against the plaintext engine.
//
// Real node processes (cascade_node_test_bin = the `cascade node` daemon):
// logits at every prompt position within 1e-4 and 64 identical greedy tokens
// for several plans up to α = β = 8 (72 processes); two clients at once on
// the same nodes; and failures — a killed node, a foreign CA, an out-of-plan
// row, a malformed or oversized message, an unreachable or mismatched node —
// each ending in a clear Error, quickly, with other sessions unaffected.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <signal.h>
#include <thread>

#include "kernels/kernels.h"
#include "model/loader.h"
#include "model/synth.h"
#include "net/certs.h"
#include "net/manifest.h"
#include "rpc/local_process_cluster.h"
#include "rpc/node_server.h"
#include "rpc/wire.h"
#include "tests/backend_compare.h"
#include "tests/test_util.h"
#include "util/atomic_file.h"
#include "util/error.h"

namespace cascade {
namespace {

using Clock = std::chrono::steady_clock;

const std::string& model_path() { return testing::stories260k_path(); }
const Model& stories() { return testing::stories260k(); }

using testing::random_prompt;

// Prefill (all rows) then `gen` greedy steps on both backends.
void compare(Backend& remote, int n_prompt, int gen, uint32_t seed) {
  const Model& m = stories();
  testing::expect_matches_plain(m, remote, random_prompt(n_prompt, m.cfg.vocab_size, seed), gen);
}

// Deadlines short enough that a failure test can never hang for long.
RemoteClusterOptions quick() {
  RemoteClusterOptions o;
  o.link.rpc_deadline = std::chrono::seconds(5);
  o.step_deadline = std::chrono::seconds(15);
  o.stall_probe = std::chrono::milliseconds(500);
  return o;
}

std::string bytes_of(const grpc::ByteBuffer& b) {
  std::vector<grpc::Slice> slices;
  EXPECT_TRUE(b.Dump(&slices).ok());
  std::string s;
  for (const auto& sl : slices) s.append(reinterpret_cast<const char*>(sl.begin()), sl.size());
  return s;
}

// `s` as a ByteBuffer of `chunk`-byte slices, as gRPC hands over what TCP delivered.
grpc::ByteBuffer buffer_of(const std::string& s, size_t chunk) {
  std::vector<grpc::Slice> slices;
  for (size_t i = 0; i < s.size(); i += chunk) slices.emplace_back(s.data() + i, std::min(chunk, s.size() - i));
  return grpc::ByteBuffer(slices.data(), slices.size());
}

Message sample_message() {
  Message m;
  m.type = MsgType::kAttnRows;
  m.from = {Role::kComp, 3};
  m.to = {Role::kAttn, 17};
  m.session = 0x1234567890abcdefULL;
  m.step = 4;
  m.layer = 7;
  m.pos = {5, 9, 130};
  m.rows = {1.5f, -2.25f, 3e-8f, 4e30f, -0.0f, 6.f};
  m.kv_pos = {5, 9};
  m.k = {0.1f, 0.2f, 0.3f, 0.4f};
  m.v = {-1.f, -2.f, -3.f, -4.f};
  m.lse = {7.f, 8.f, 9.f};
  return m;
}

void expect_same(const Message& a, const Message& b) {
  EXPECT_EQ(a.type, b.type);
  EXPECT_TRUE(a.from == b.from && a.to == b.to);
  EXPECT_EQ(a.session, b.session);
  EXPECT_EQ(a.step, b.step);
  EXPECT_EQ(a.layer, b.layer);
  EXPECT_EQ(a.pos_begin, b.pos_begin);
  EXPECT_EQ(a.pos_end, b.pos_end);
  EXPECT_EQ(a.flags, b.flags);
  EXPECT_EQ(a.pos, b.pos);
  EXPECT_EQ(a.kv_pos, b.kv_pos);
  ASSERT_EQ(a.rows.size(), b.rows.size());
  // Bitwise (NaN == NaN). memcmp's pointers must not be null even for 0
  // bytes, and an empty vector's data() may be (UBSan: nonnull-attribute).
  if (!a.rows.empty()) {
    EXPECT_EQ(std::memcmp(a.rows.data(), b.rows.data(), 4 * a.rows.size()), 0);
  }
  EXPECT_EQ(a.k, b.k);
  EXPECT_EQ(a.v, b.v);
  EXPECT_EQ(a.lse, b.lse);
  EXPECT_EQ(a.text, b.text);
}

// encode_link writes the Envelope that protobuf's own API writes (so the
// generated stub, other languages and our tests read and write the same
// bytes), and decode_link reads both back, however the bytes are sliced.
TEST(NetWire, LinkBytesAreTheEnvelope) {
  const Message m = sample_message();
  wire::Envelope reference;
  to_wire(m, &reference);
  const std::string encoded = bytes_of(encode_link(m));
  wire::Envelope parsed;
  ASSERT_TRUE(parsed.ParseFromString(encoded));
  EXPECT_EQ(parsed.SerializeAsString(), reference.SerializeAsString());
  for (size_t chunk : {size_t(1), size_t(7), size_t(4096)}) {
    grpc::ByteBuffer b = buffer_of(reference.SerializeAsString(), chunk);
    const LinkMessage in = decode_link(b);
    EXPECT_EQ(in.malformed, "") << chunk;
    EXPECT_EQ(in.msg.session, m.session);
    expect_same(in.msg, m);
  }
  // The arrays left out when empty, and an error's text, both ways.
  Message e;
  e.type = MsgType::kError;
  e.from = {Role::kAttn, 2};
  e.session = 9;
  e.text = "attn(0,2) failed";
  grpc::ByteBuffer b = encode_link(e);
  const LinkMessage in = decode_link(b);
  EXPECT_EQ(in.malformed, "");
  expect_same(in.msg, e);
}

TEST(NetWire, MalformedLinkBytesAreNamed) {
  wire::Envelope env;
  to_wire(sample_message(), &env);
  env.set_k(std::string(4 * 3 + 2, '\0'));
  grpc::ByteBuffer odd = buffer_of(env.SerializeAsString(), 5);
  LinkMessage in = decode_link(odd);
  EXPECT_EQ(in.malformed, "malformed payload: field k has 14 bytes, not a whole number of 4-byte elements");
  EXPECT_EQ(in.msg.session, env.session());  // still known: the refusal names the session
  env.set_k("");
  env.mutable_to()->set_role(99);
  grpc::ByteBuffer role = buffer_of(env.SerializeAsString(), 64);
  EXPECT_EQ(decode_link(role).malformed, "malformed message: unknown role 99");
  const std::string whole = env.SerializeAsString();
  grpc::ByteBuffer cut = buffer_of(whole.substr(0, whole.size() - 3), 64);  // truncated inside lse
  EXPECT_EQ(decode_link(cut).malformed, "malformed message: not a Cascade Envelope");
  grpc::ByteBuffer junk = buffer_of(std::string("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11), 4);
  EXPECT_EQ(decode_link(junk).malformed, "malformed message: not a Cascade Envelope");
  // A rows field that claims 4 GiB in a 10-byte message: refused, not allocated.
  grpc::ByteBuffer huge = buffer_of(std::string("\x5a\xf0\xff\xff\xff\x0f\x00\x00\x00\x00", 10), 3);
  const LinkMessage h = decode_link(huge);
  EXPECT_EQ(h.malformed, "malformed message: not a Cascade Envelope");
  EXPECT_EQ(h.msg.rows.capacity(), 0u);
}

// One set of node processes for the whole suite: 8 CompNodes + 64 AttnNodes.
class Net : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const auto t0 = Clock::now();
    cluster_ = new LocalProcessCluster({.node_binary = CASCADE_NODE_BIN,
                                        .model_path = model_path(),
                                        .n_comp = 8,
                                        .n_attn = 64});
    std::printf("[ net      ] 72 node processes healthy in %.2f s\n",
                std::chrono::duration<double>(Clock::now() - t0).count());
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  static Plan plan(int alpha, int beta, int c, int delta, int F, int head) {
    return Plan::make({.alpha = alpha, .beta = beta, .c = c, .delta = delta, .front_layers = F,
                       .public_prefix = 1, .client_head = head},
                      stories().cfg);
  }
  static LocalProcessCluster* cluster_;
};
LocalProcessCluster* Net::cluster_ = nullptr;

struct PlanCase {
  int alpha, beta, c, delta, F, head;
};

TEST_F(Net, RemoteEqualsPlain) {
  const std::vector<PlanCase> plans = {
      {1, 1, 0, 0, 1, 0},   // pure protocol
      {2, 1, 0, 0, 0, 0},   // F = 0
      {2, 2, 0, 2, 1, -1},  // client keeps a head: it serves attention too
      {3, 3, 2, 1, 1, -1},
      {8, 8, 6, 3, 1, -1},  // the 72-node plan
      {8, 8, 2, 1, 0, 0},
  };
  for (const PlanCase& pc : plans) {
    const Plan p = plan(pc.alpha, pc.beta, pc.c, pc.delta, pc.F, pc.head);
    SCOPED_TRACE("alpha=" + std::to_string(pc.alpha) + " beta=" + std::to_string(pc.beta) +
                 " F=" + std::to_string(pc.F) + " head=" + std::to_string(p.head()));
    const auto t0 = Clock::now();
    auto remote = cluster_->connect(stories(), p);
    compare(*remote, 100, 64, 7 + pc.alpha * 10 + pc.beta);
    std::printf("[ net      ] alpha=%d beta=%d: prompt 100 + 64 tokens in %.2f s\n", pc.alpha, pc.beta,
                std::chrono::duration<double>(Clock::now() - t0).count());
  }
}

TEST_F(Net, TwoClientsConcurrently) {
  const Plan p8 = plan(8, 8, 6, 3, 1, -1), p3 = plan(3, 3, 2, 1, 1, -1);
  auto run = [&](const Plan& p, uint32_t seed) {
    auto remote = cluster_->connect(stories(), p);
    compare(*remote, 60, 64, seed);
  };
  std::thread a(run, std::cref(p8), 11), b(run, std::cref(p3), 12);
  a.join();
  b.join();
}

TEST_F(Net, ManifestRoundTripAndFromManifest) {
  const ClusterManifest m = cluster_->manifest({.alpha = 2, .beta = 2, .c = 0, .delta = 2});
  const std::string dir = testing::temp_dir();
  write_file_atomic(dir + "/cluster.json", manifest_to_json(m).dump(2));
  const ClusterManifest back = load_manifest(dir + "/cluster.json");
  EXPECT_EQ(back.nodes, m.nodes);
  auto remote = RemoteCluster::from_manifest(stories(), back, quick());
  compare(*remote, 20, 8, 5);
}

TEST(NetManifest, ClearErrors) {
  const std::string dir = testing::temp_dir();
  const CertAndKey ca = make_ca("test CA");
  write_file_atomic(dir + "/ca.pem", ca.cert_pem);
  write_cert_and_key(make_leaf(ca, "client"), dir, "client");
  auto base = [] {
    return nlohmann::json::parse(R"({
      "ca": "ca.pem", "client": {"cert": "client.pem", "key": "client.key"},
      "plan": {"alpha": 1, "beta": 2},
      "nodes": [{"role": "comp", "index": 0, "address": "127.0.0.1:5001"},
                {"role": "attn", "index": 0, "address": "127.0.0.1:5002"},
                {"role": "attn", "index": 1, "address": "127.0.0.1:5003"},
                {"role": "attn", "index": 2, "address": "127.0.0.1:5004"},
                {"role": "attn", "index": 3, "address": "127.0.0.1:5005"}]})");
  };
  auto error_of = [&](const nlohmann::json& j) {
    try {
      parse_manifest(j, dir);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(error_of(base()), "no error");
  auto missing = base();
  missing["nodes"].erase(3);
  EXPECT_NE(error_of(missing).find("needs nodes that are not listed: attn(1,0)"), std::string::npos)
      << error_of(missing);
  auto dup = base();
  dup["nodes"].push_back({{"role", "attn"}, {"index", 1}, {"address", "127.0.0.1:5009"}});
  EXPECT_NE(error_of(dup).find("attn(0,1) is listed twice"), std::string::npos) << error_of(dup);
  auto same_addr = base();
  same_addr["nodes"][1]["address"] = "127.0.0.1:5001";
  EXPECT_NE(error_of(same_addr).find("two nodes at address 127.0.0.1:5001"), std::string::npos);
  auto bad_cert = base();
  bad_cert["client"]["cert"] = "nope.pem";
  EXPECT_NE(error_of(bad_cert).find("cannot read certificate " + dir + "/nope.pem"), std::string::npos)
      << error_of(bad_cert);
  auto typo = base();
  typo["plan"]["alhpa"] = 2;
  EXPECT_NE(error_of(typo).find("unknown plan key \"alhpa\""), std::string::npos);
}

// ---- failures ----

// An in-process node with its own identity (the suite's CA unless given).
std::unique_ptr<NodeServer> in_process_node(Role role, const TlsIdentity& tls, const Model* model = nullptr,
                                            int max_message_bytes = 256 << 20) {
  NodeServerOptions o;
  o.role = role;
  o.model = model;
  o.tls = tls;
  o.link.max_message_bytes = max_message_bytes;
  o.link.rpc_deadline = std::chrono::seconds(5);
  return std::make_unique<NodeServer>(o);
}

// A throwaway identity from a CA of its own: what an outsider has.
TlsIdentity foreign_identity() {
  const CertAndKey ca = make_ca("some other CA");
  const CertAndKey leaf = make_leaf(ca, "intruder");
  return {ca.cert_pem, leaf.cert_pem, leaf.key_pem};
}

using testing::error_of;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

TEST_F(Net, KilledNodeMidGenerationIsNamed) {
  LocalProcessCluster own({.node_binary = CASCADE_NODE_BIN, .model_path = model_path(), .n_comp = 2, .n_attn = 4});
  const Plan p = plan(2, 2, 0, 2, 1, -1);
  auto remote = own.connect(stories(), p, quick());
  auto bystander = cluster_->connect(stories(), p, quick());  // other nodes: must not notice
  const Model& m = stories();
  auto prompt = random_prompt(30, m.cfg.vocab_size, 3);
  std::vector<float> logits;
  remote->step(prompt.data(), (int)prompt.size(), false, logits);
  int32_t tok = argmax(logits.data(), m.cfg.vocab_size);
  for (int i = 0; i < 5; ++i) {
    remote->step(&tok, 1, false, logits);
    tok = argmax(logits.data(), m.cfg.vocab_size);
  }
  // Kill the AttnNode (s, s) of the next position's shard: it has work in the step.
  const int s = p.shard_of(remote->position());
  const int victim = s * p.beta() + s;
  const std::string addr = own.address(Role::kAttn, victim);
  own.kill_node(Role::kAttn, victim);
  const auto t0 = Clock::now();
  const std::string e = error_of([&] {
    for (int i = 0; i < 10; ++i) remote->step(&tok, 1, false, logits);
  });
  EXPECT_LT(seconds_since(t0), 10.0);
  std::printf("[ net      ] %s\n", e.c_str());
  const std::string name = NodeId{Role::kAttn, victim}.name(p.beta());
  EXPECT_NE(e.find(name + " at " + addr), std::string::npos) << e;
  EXPECT_NE(e.find("unreachable"), std::string::npos) << e;
  // The same error again, at once, and no crash.
  EXPECT_EQ(error_of([&] { remote->step(&tok, 1, false, logits); }), e);
  compare(*bystander, 20, 8, 4);
}

TEST_F(Net, ForeignCertificateIsRefused) {
  // A node whose certificate comes from another CA: the client will not talk to it.
  auto rogue = in_process_node(Role::kAttn, foreign_identity());
  const Plan p = plan(1, 1, 0, 0, 1, 0);
  AddressBook book = cluster_->manifest(p.spec()).nodes;
  book[{Role::kAttn, 0}] = rogue->address();
  RemoteClusterOptions o = quick();
  o.tls = cluster_->client_identity();
  const auto t0 = Clock::now();
  std::string e = error_of([&] { RemoteCluster(stories(), p, book, o); });
  EXPECT_LT(seconds_since(t0), 10.0);
  EXPECT_NE(e.find("attn(0,0) at " + rogue->address() + " is unreachable"), std::string::npos) << e;
  // And a client with a foreign certificate is refused by the real nodes.
  o.tls = foreign_identity();
  e = error_of([&] { RemoteCluster(stories(), p, cluster_->manifest(p.spec()).nodes, o); });
  EXPECT_NE(e.find("unreachable"), std::string::npos) << e;
  EXPECT_EQ(rogue->open_sessions(), 0);
}

TEST_F(Net, UnreachableAddressAtOpen) {
  const Plan p = plan(2, 1, 0, 0, 1, 0);
  AddressBook book = cluster_->manifest(p.spec()).nodes;
  book[{Role::kComp, 1}] = "127.0.0.1:1";
  RemoteClusterOptions o = quick();
  o.tls = cluster_->client_identity();
  const auto t0 = Clock::now();
  const std::string e = error_of([&] { RemoteCluster(stories(), p, book, o); });
  EXPECT_LT(seconds_since(t0), 10.0);
  EXPECT_NE(e.find("comp1 at 127.0.0.1:1 is unreachable"), std::string::npos) << e;
}

TEST_F(Net, CompNodeRefusesAnotherModel) {
  LoadedModel other = load_model(testing::shared_path("models/stories260K/stories260K.gguf"),
                                 {.require_tokenizer = false});
  ASSERT_NE(other.model.file_sha256, stories().file_sha256);
  auto node = in_process_node(Role::kComp, cluster_->client_identity(), &other.model);
  const Plan p = plan(1, 1, 0, 0, 1, 0);
  AddressBook book = cluster_->manifest(p.spec()).nodes;
  book[{Role::kComp, 0}] = node->address();
  RemoteClusterOptions o = quick();
  o.tls = cluster_->client_identity();
  const std::string e = error_of([&] { RemoteCluster(stories(), p, book, o); });
  EXPECT_NE(e.find("comp0 at " + node->address() + " refused the session: model mismatch"), std::string::npos) << e;
}

// Sends `env` straight to `address` on a Link stream of its own, as `tls`'s
// owner would, and half-closes: the stream's status says whether the
// receiver accepted it (OK: queued for the role) or why it refused.
grpc::Status deliver(const std::string& address, const wire::Envelope& env, const TlsIdentity& tls,
                     int max_bytes = 256 << 20) {
  PeerChannels ch(channel_credentials(tls), {.rpc_deadline = std::chrono::seconds(5), .max_message_bytes = max_bytes});
  auto ctx = ch.context();
  auto stream = ch.stub(address).Link(ctx.get());
  stream->Write(env);
  stream->WritesDone();
  return stream->Finish();
}

TEST_F(Net, OutOfPlanRowIsRefusedAndNamed) {
  const Model& m = stories();
  const Plan p = plan(2, 2, 0, 2, 1, -1);
  auto victim = cluster_->connect(m, p, quick());
  auto bystander = cluster_->connect(m, p, quick());
  std::vector<float> logits;
  auto prompt = random_prompt(20, m.cfg.vocab_size, 9);
  victim->step(prompt.data(), (int)prompt.size(), false, logits);
  // A hidden row of a position comp0 does not own, sent to comp0.
  int foreign = p.head();
  while (p.comp_of(foreign) == 0) ++foreign;
  Message bad;
  bad.type = MsgType::kHidden;
  bad.from = {Role::kClient, 0};
  bad.to = {Role::kComp, 0};
  bad.session = victim->session();
  bad.step = 1;
  bad.layer = p.front_layers();
  bad.pos_begin = foreign;
  bad.pos_end = foreign + 1;
  bad.pos = {foreign};
  bad.rows.assign(m.cfg.dim, 0.5f);
  wire::Envelope env;
  to_wire(bad, &env);
  const auto t0 = Clock::now();
  ASSERT_TRUE(deliver(victim->book().at(bad.to), env, cluster_->client_identity()).ok());  // queued, then refused
  int32_t tok = 5;
  const std::string e = error_of([&] { victim->step(&tok, 1, false, logits); });
  EXPECT_LT(seconds_since(t0), 10.0);
  std::printf("[ net      ] %s\n", e.c_str());
  EXPECT_NE(e.find("comp0 at " + victim->book().at(bad.to)), std::string::npos) << e;
  EXPECT_NE(e.find("position " + std::to_string(foreign) + " that its plan does not allow"), std::string::npos) << e;
  compare(*bystander, 20, 8, 9);
}

// A certificate from the cluster's own CA speaks only for the party it names:
// comp1's key cannot send as the client (or as comp0).
TEST_F(Net, CertificateMustNameTheSender) {
  const Model& m = stories();
  const Plan p = plan(2, 2, 0, 2, 1, -1);
  auto victim = cluster_->connect(m, p, quick());
  std::vector<float> logits;
  auto prompt = random_prompt(20, m.cfg.vocab_size, 11);
  victim->step(prompt.data(), (int)prompt.size(), false, logits);
  const TlsIdentity comp1 = load_tls_identity(cluster_->dir() + "/ca.pem", cluster_->dir() + "/comp1.pem",
                                              cluster_->dir() + "/comp1.key");
  Message fake;
  fake.type = MsgType::kStepBegin;
  fake.from = {Role::kClient, 0};
  fake.to = {Role::kAttn, 0};
  fake.session = victim->session();
  fake.step = 1;
  fake.pos_begin = 20;
  fake.pos_end = 21;
  wire::Envelope env;
  to_wire(fake, &env);
  grpc::Status st = deliver(victim->book().at(fake.to), env, comp1);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();
  EXPECT_NE(st.error_message().find("must be named 'client'"), std::string::npos) << st.error_message();
  // The session is untouched: generation goes on correctly.
  int32_t tok = argmax(logits.data(), m.cfg.vocab_size);
  victim->step(&tok, 1, false, logits);
  PlainBackend plain(m);
  std::vector<float> lp;
  plain.step(prompt.data(), (int)prompt.size(), false, lp);
  plain.step(&tok, 1, false, lp);
  EXPECT_LE(testing::max_abs_diff(lp, logits), 1e-4f);
}

TEST_F(Net, MalformedPayloadIsRefused) {
  const Model& m = stories();
  const Plan p = plan(1, 1, 0, 0, 1, 0);
  auto victim = cluster_->connect(m, p, quick());
  wire::Envelope env;
  Message msg;
  msg.type = MsgType::kStepBegin;
  msg.from = {Role::kClient, 0};
  msg.to = {Role::kAttn, 0};
  msg.session = victim->session();
  to_wire(msg, &env);
  env.set_rows(std::string(4 * 7 + 3, '\0'));  // not a whole number of floats
  const std::string addr = victim->book().at(msg.to);
  const grpc::Status s = deliver(addr, env, cluster_->client_identity());
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("attn(0,0) at " + addr + " refused a message: malformed payload: field rows has 31 bytes"),
            std::string::npos)
      << s.error_message();
  // The session's client hears of it too (the node tells it on its own
  // link, at once), and its next step fails with that account.
  const auto t0 = Clock::now();
  while (!victim->error() && seconds_since(t0) < 5) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(victim->error().has_value());
  EXPECT_NE(victim->error()->find("malformed payload"), std::string::npos) << *victim->error();
  int32_t tok = 1;
  std::vector<float> logits;
  const std::string e = error_of([&] { victim->step(&tok, 1, false, logits); });
  EXPECT_EQ(e, *victim->error());
}

// A refusal travels back on the sender's link at once: the session vanishes
// from one AttnNode (as if reaped), so the next message for it is refused
// with NOT_FOUND, and the client hears which node refused and why long
// before any deadline (without the report, the step would wait for its 15 s
// deadline: the node still answers health checks).
TEST_F(Net, RefusedMessageIsReportedAtOnce) {
  const Model& m = stories();
  const Plan p = plan(2, 2, 0, 2, 1, -1);
  auto victim = cluster_->connect(m, p, quick());
  auto bystander = cluster_->connect(m, p, quick());
  std::vector<float> logits;
  auto prompt = random_prompt(20, m.cfg.vocab_size, 13);
  victim->step(prompt.data(), (int)prompt.size(), false, logits);
  const NodeId gone{Role::kAttn, 0};
  const std::string addr = victim->book().at(gone);
  {
    PeerChannels ch(channel_credentials(cluster_->client_identity()), {.rpc_deadline = std::chrono::seconds(5)});
    auto ctx = ch.context();
    wire::SessionRef ref;
    ref.set_session(victim->session());
    wire::Ack ack;
    ASSERT_TRUE(ch.stub(addr).CloseSession(ctx.get(), ref, &ack).ok());
  }
  int32_t tok = argmax(logits.data(), m.cfg.vocab_size);
  const auto t0 = Clock::now();
  const std::string e = error_of([&] {
    for (int i = 0; i < 8; ++i) {  // the decode positions' shards rotate: attn(0,0) soon has work
      victim->step(&tok, 1, false, logits);
      tok = argmax(logits.data(), m.cfg.vocab_size);
    }
  });
  std::printf("[ net      ] after %.2f s: %s\n", seconds_since(t0), e.c_str());
  EXPECT_LT(seconds_since(t0), 3.0);
  EXPECT_NE(e.find("attn(0,0) at " + addr + " refused the message"), std::string::npos) << e;
  EXPECT_NE(e.find("no session"), std::string::npos) << e;
  compare(*bystander, 20, 8, 13);
}

TEST_F(Net, OversizedMessageIsRefused) {
  // A node with a 1 MiB limit; a 2 MiB message is refused before it is read.
  auto node = in_process_node(Role::kAttn, cluster_->client_identity(), nullptr, 1 << 20);
  wire::Envelope env;
  env.set_rows(std::string(2 << 20, '\0'));
  const grpc::Status s = deliver(node->address(), env, cluster_->client_identity(), 64 << 20);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  // And a sender never sends more than its own limit.
  const grpc::Status s2 = deliver(node->address(), env, cluster_->client_identity(), 1 << 20);
  EXPECT_EQ(s2.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s2.error_message();
  // The node is still fine.
  wire::Envelope small;
  small.set_session(42);
  const grpc::Status s3 = deliver(node->address(), small, cluster_->client_identity());
  EXPECT_EQ(s3.error_code(), grpc::StatusCode::NOT_FOUND) << s3.error_message();
}

TEST_F(Net, SessionsFreedOnCloseAndWhenIdle) {
  NodeServerOptions o;
  o.role = Role::kAttn;
  o.tls = cluster_->client_identity();
  o.idle_timeout = std::chrono::milliseconds(300);
  NodeServer node(o);
  const Plan p = plan(1, 1, 0, 0, 1, 0);
  AddressBook book = cluster_->manifest(p.spec()).nodes;
  book[{Role::kAttn, 0}] = node.address();
  RemoteClusterOptions ro = quick();
  ro.tls = cluster_->client_identity();
  {
    RemoteCluster closed(stories(), p, book, ro);
    EXPECT_EQ(node.open_sessions(), 1);
  }
  EXPECT_EQ(node.open_sessions(), 0);  // the destructor closed it
  RemoteCluster idle(stories(), p, book, ro);
  EXPECT_EQ(node.open_sessions(), 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  EXPECT_EQ(node.open_sessions(), 0);  // freed after 300 ms without messages
}

TEST_F(Net, HungNodeHitsTheDeadline) {
  // A stopped (not dead) CompNode: connections stay up, nothing answers.
  LocalProcessCluster own({.node_binary = CASCADE_NODE_BIN, .model_path = model_path(), .n_comp = 2, .n_attn = 1});
  const Plan p = plan(2, 1, 0, 0, 1, 0);
  RemoteClusterOptions o = quick();
  o.link.rpc_deadline = std::chrono::seconds(2);
  auto remote = own.connect(stories(), p, o);
  const Model& m = stories();
  auto prompt = random_prompt(10, m.cfg.vocab_size, 5);
  std::vector<float> logits;
  remote->step(prompt.data(), (int)prompt.size(), false, logits);
  const pid_t comp1 = own.pid(Role::kComp, 1);
  ASSERT_EQ(kill(comp1, SIGSTOP), 0);
  // kill() only queues the stop; step once every thread of comp1 has stopped.
  auto stopped = [&] {
    std::ifstream stat("/proc/" + std::to_string(comp1) + "/stat");
    std::string pid, comm, state;
    stat >> pid >> comm >> state;
    return state == "T";
  };
  const auto t_stop = Clock::now();
  while (!stopped() && seconds_since(t_stop) < 5) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_TRUE(stopped()) << "comp1 did not stop";
  const auto t0 = Clock::now();
  const std::string e = error_of([&] { remote->step(prompt.data(), (int)prompt.size(), false, logits); });
  const double took = seconds_since(t0);
  std::printf("[ net      ] after %.1f s: %s\n", took, e.c_str());
  EXPECT_LT(took, 8.0);
  EXPECT_NE(e.find("comp1 at " + own.address(Role::kComp, 1) + " did not answer in time"), std::string::npos) << e;
  kill(comp1, SIGCONT);
}

// A node answers health checks on its link loop, after the block it is
// computing. The client probes after 10 ms without messages, many times
// while the CompNode runs 1000 rows of a 27 MB model through a block
// (tens of ms): the probes must wait for it (the RPC deadline) instead of
// naming the busy node dead.
TEST_F(Net, BusyNodeIsNotTakenForDead) {
  SynthSpec spec = synth_preset("tiny-llama");
  spec.dim = 512, spec.hidden_dim = 1536, spec.n_heads = 8, spec.n_kv_heads = 4, spec.context_length = 1100;
  const std::string path = testing::temp_dir() + "/busy-llama.gguf";
  synthesize_gguf(spec, path);
  const LoadedModel lm = load_model(path, {.require_tokenizer = false});
  LocalProcessCluster own({.node_binary = CASCADE_NODE_BIN, .model_path = path, .n_comp = 1, .n_attn = 1});
  RemoteClusterOptions o = quick();
  o.stall_probe = std::chrono::milliseconds(10);
  const Plan p = Plan::make({.alpha = 1, .beta = 1, .c = 0, .delta = 0, .front_layers = 1, .public_prefix = 1, .client_head = 0},
                            lm.model.cfg);
  auto remote = own.connect(lm.model, p, o);
  testing::expect_matches_plain(lm.model, *remote, random_prompt(1000, lm.model.cfg.vocab_size, 21), 2);
}

}  // namespace
}  // namespace cascade
