#include "transport/remote_cluster.h"

#include <random>

#include "net/wire.h"
#include "util/error.h"

namespace cascade {
namespace {

uint64_t random_session_id() {
  std::random_device rd;
  uint64_t id = 0;
  while (id == 0) id = ((uint64_t)rd() << 32) ^ rd();
  return id;
}

// Runs `rpc(stub, ctx, done)` on every node at once and waits for all; returns
// each node's status.
template <class StartRpc>
std::map<NodeId, grpc::Status> on_every_node(PeerChannels& ch, const AddressBook& book, std::chrono::milliseconds deadline,
                                             StartRpc start) {
  std::map<NodeId, grpc::Status> result;
  std::mutex mu;
  std::condition_variable cv;
  size_t pending = 0;
  std::vector<std::unique_ptr<grpc::ClientContext>> ctxs;
  for (const auto& [id, addr] : book) {
    if (id.role == Role::kClient) continue;
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + deadline);
    ++pending;
    const NodeId node = id;
    start(ch.stub(addr), ctx.get(), node, [&, node](grpc::Status s) {
      std::lock_guard<std::mutex> lock(mu);
      result[node] = std::move(s);
      if (--pending == 0) cv.notify_one();
    });
    ctxs.push_back(std::move(ctx));
  }
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return pending == 0; });
  return result;
}

}  // namespace

// The client's gRPC endpoint: only Link (and Health) mean anything here.
class RemoteCluster::Service final : public wire::Node::CallbackService {
 public:
  explicit Service(RemoteCluster& c) : c_(c) {}

  grpc::ServerBidiReactor<wire::Envelope, wire::Ack>* Link(grpc::CallbackServerContext* ctx) override {
    return new LinkReader(ctx, [this](const std::string& peer_cn, const wire::Envelope& env) {
      return accept(peer_cn, env);
    });
  }

  grpc::Status accept(const std::string& peer_cn, const wire::Envelope& env) {
    if (env.session() != c_.session_)
      return {grpc::StatusCode::NOT_FOUND, "client at " + c_.address_ + ": not session " + std::to_string(env.session())};
    Message m;
    try {
      m = from_wire(env);
    } catch (const Error& e) {
      c_.set_error(std::string("client at ") + c_.address_ + " refused a message: " + e.what());
      return {grpc::StatusCode::INVALID_ARGUMENT, e.what()};
    }
    if (m.to.role != Role::kClient || !c_.book_.count(m.from))
      return {grpc::StatusCode::PERMISSION_DENIED, "client: message from or to a party outside the session"};
    if (auto st = check_peer_is(peer_cn, m.from, c_.plan_.beta(), "client at " + c_.address_); !st.ok()) return st;
    c_.handle(m);
    return grpc::Status::OK;
  }
  grpc::ServerUnaryReactor* OpenSession(grpc::CallbackServerContext* ctx, const wire::SessionSetup*,
                                        wire::Ack*) override {
    return finish_unary(ctx, {grpc::StatusCode::UNIMPLEMENTED, "this is a client; it hosts no sessions"});
  }
  grpc::ServerUnaryReactor* CloseSession(grpc::CallbackServerContext* ctx, const wire::SessionRef*,
                                         wire::Ack*) override {
    return finish_unary(ctx, {grpc::StatusCode::UNIMPLEMENTED, "this is a client; it hosts no sessions"});
  }
  grpc::ServerUnaryReactor* Health(grpc::CallbackServerContext* ctx, const wire::HealthRequest*,
                                   wire::HealthReply* r) override {
    r->set_role((int32_t)Role::kClient);
    return finish_unary(ctx, grpc::Status::OK);
  }

 private:
  RemoteCluster& c_;
};

RemoteCluster::RemoteCluster(const Model& model, const Plan& plan, AddressBook nodes, RemoteClusterOptions opts)
    : plan_(plan),
      opts_(std::move(opts)),
      session_(random_session_id()),
      client_(model, plan_, session_),
      last_activity_(std::chrono::steady_clock::now()),
      book_(std::move(nodes)) {
  for (const NodeId& n : plan_.nodes())
    check(book_.count(n), "remote cluster: no address for " + n.name(plan_.beta()));
  channels_ = std::make_unique<PeerChannels>(channel_credentials(opts_.tls), opts_.link);
  links_ = std::make_unique<PeerLinks>(*channels_, book_, [this](const SendFailure& f) {
    set_error(describe(f, plan_.beta(), "the client"));
  });
  service_ = std::make_unique<Service>(*this);
  int port = 0;
  server_ = start_tls_server(service_.get(), opts_.tls, opts_.link, opts_.listen, &port);
  check(server_ != nullptr && port > 0, "client: cannot listen on " + opts_.listen);
  address_ = !opts_.advertise.empty() ? opts_.advertise
                                      : opts_.listen.substr(0, opts_.listen.rfind(':')) + ":" + std::to_string(port);
  book_[{Role::kClient, 0}] = address_;
  try {
    open_sessions(model);
  } catch (...) {
    server_->Shutdown(std::chrono::system_clock::now());
    throw;
  }
}

std::unique_ptr<RemoteCluster> RemoteCluster::from_manifest(const Model& model, const ClusterManifest& m,
                                                            RemoteClusterOptions base) {
  base.tls = load_tls_identity(m.ca, m.client_cert, m.client_key);
  base.listen = m.client_listen;
  base.advertise = m.client_advertise;
  return std::make_unique<RemoteCluster>(model, Plan::make(m.plan, model.cfg), m.nodes, std::move(base));
}

RemoteCluster::~RemoteCluster() {
  close_sessions();
  // Returns once no callback runs handle() any more.
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
  links_.reset();
}

void RemoteCluster::open_sessions(const Model& model) {
  wire::SessionSetup base;
  base.set_session(session_);
  to_wire(plan_.spec(), base.mutable_plan());
  base.set_model_sha256(model.file_sha256);
  to_wire(model.cfg, base.mutable_dims());
  for (const auto& [id, addr] : book_) {
    auto* p = base.add_peers();
    to_wire(id, p->mutable_id());
    p->set_address(addr);
  }
  std::map<NodeId, wire::SessionSetup> setups;
  std::map<NodeId, wire::Ack> acks;
  for (const auto& [id, addr] : book_) {
    if (id.role == Role::kClient) continue;
    setups[id] = base;
    to_wire(id, setups[id].mutable_self());
    acks[id];
  }
  auto status = on_every_node(*channels_, book_, opts_.link.rpc_deadline,
                              [&](wire::Node::Stub& stub, grpc::ClientContext* ctx, const NodeId& id, auto done) {
                                stub.async()->OpenSession(ctx, &setups[id], &acks[id], std::move(done));
                              });
  for (const auto& [id, s] : status) {
    if (s.ok()) continue;
    const std::string addr = book_.at(id);
    close_sessions();
    if (s.error_code() == grpc::StatusCode::FAILED_PRECONDITION)
      throw Error(s.error_message());  // the node's own words, naming it
    throw Error(describe(SendFailure{id, addr, s}, plan_.beta(), "the client opening the session"));
  }
}

void RemoteCluster::close_sessions() {
  if (closed_) return;
  closed_ = true;
  wire::SessionRef ref;
  ref.set_session(session_);
  std::map<NodeId, wire::Ack> acks;
  for (const auto& [id, addr] : book_) acks[id];
  on_every_node(*channels_, book_, std::min<std::chrono::milliseconds>(opts_.link.rpc_deadline, std::chrono::seconds(2)),
                [&](wire::Node::Stub& stub, grpc::ClientContext* ctx, const NodeId& id, auto done) {
                  stub.async()->CloseSession(ctx, &ref, &acks[id], std::move(done));
                });
}

void RemoteCluster::set_error(const std::string& e) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!error_) error_ = e;
  }
  cv_.notify_all();
}

std::optional<std::string> RemoteCluster::error() const {
  std::lock_guard<std::mutex> lock(mu_);
  return error_;
}

RoleStats RemoteCluster::client_stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return client_.stats();
}

int RemoteCluster::position() const {
  std::lock_guard<std::mutex> lock(mu_);
  return client_.position();
}

void RemoteCluster::handle(Message& m) {
  if (m.type == MsgType::kError) {
    set_error(m.text);
    return;
  }
  MessageList out;  // sent after unlocking: a failing link reports under mu_
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (error_) return;
    last_activity_ = std::chrono::steady_clock::now();
    try {
      client_.handle(m, out);
    } catch (const std::exception& e) {
      error_ = std::string("client at ") + address_ + " failed on a " + msg_type_name(m.type) + " message from " +
               m.from.name(plan_.beta()) + ": " + e.what();
    }
  }
  for (Message& o : out.msgs) links_->send(std::move(o));
  cv_.notify_all();
}

std::optional<std::string> RemoteCluster::probe_nodes() {
  std::map<NodeId, wire::HealthRequest> reqs;
  std::map<NodeId, wire::HealthReply> replies;
  for (const auto& [id, addr] : book_) reqs[id], replies[id];
  auto status = on_every_node(*channels_, book_, opts_.stall_probe,
                              [&](wire::Node::Stub& stub, grpc::ClientContext* ctx, const NodeId& id, auto done) {
                                stub.async()->Health(ctx, &reqs[id], &replies[id], std::move(done));
                              });
  for (const auto& [id, s] : status)
    if (!s.ok()) return describe(SendFailure{id, book_.at(id), s}, plan_.beta(), "the client's health check");
  return std::nullopt;
}

void RemoteCluster::step(const int32_t* tokens, int n, bool all_rows, std::vector<float>& logits) {
  using Clock = std::chrono::steady_clock;
  MessageList out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (error_) throw Error(*error_);
    client_.begin_step(tokens, n, all_rows, out);
    last_activity_ = Clock::now();
  }
  for (Message& o : out.msgs) links_->send(std::move(o));

  const auto deadline = Clock::now() + opts_.step_deadline;
  std::unique_lock<std::mutex> lock(mu_);
  while (!error_ && !client_.step_done()) {
    const auto now = Clock::now();
    if (now >= deadline) {
      error_ = "step did not complete within " + std::to_string(opts_.step_deadline.count()) +
               " ms, though every node answers health checks";
      break;
    }
    const auto wake = std::min(deadline, last_activity_ + opts_.stall_probe);
    if (wake > now) {
      cv_.wait_until(lock, wake);
      continue;
    }
    // Nothing arrived for a while: is a node gone?
    lock.unlock();
    auto dead = probe_nodes();
    lock.lock();
    if (dead && !error_) error_ = *dead;
    last_activity_ = Clock::now();
  }
  if (error_) {
    const std::string e = *error_;
    lock.unlock();
    close_sessions();
    throw Error(e);
  }
  logits = client_.logits();
}

}  // namespace cascade
