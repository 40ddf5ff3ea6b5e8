#include "rpc/remote_cluster.h"

#include <random>

#include "rpc/receive.h"
#include "rpc/wire.h"
#include "util/error.h"

namespace cascade {
namespace {

uint64_t random_session_id() {
  std::random_device rd;
  uint64_t id = 0;
  while (id == 0) id = ((uint64_t)rd() << 32) ^ rd();
  return id;
}

// Calls one unary RPC on every node at once (`prepare` makes node id's call
// on `cq`), each with `deadline`, and waits for all; returns each node's
// status and fills `replies`.
template <class Rep, class Prepare>
std::map<NodeId, grpc::Status> on_every_node(PeerChannels& ch, const AddressBook& book, std::chrono::milliseconds deadline,
                                             std::map<NodeId, Rep>& replies, Prepare prepare) {
  struct Call {
    NodeId node;
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientAsyncResponseReader<Rep>> rpc;
    grpc::Status status;
  };
  grpc::CompletionQueue cq;
  std::vector<std::unique_ptr<Call>> calls;
  for (const auto& [id, addr] : book) {
    if (id.role == Role::kClient) continue;
    auto c = std::make_unique<Call>();
    c->node = id;
    c->ctx.set_deadline(std::chrono::system_clock::now() + deadline);
    c->rpc = prepare(ch.stub(addr), &c->ctx, id, &cq);
    c->rpc->StartCall();
    c->rpc->Finish(&replies[id], &c->status, c.get());
    calls.push_back(std::move(c));
  }
  std::map<NodeId, grpc::Status> result;
  void* tag;
  bool ok;
  for (size_t done = 0; done < calls.size() && cq.Next(&tag, &ok); ++done) {
    const Call* c = static_cast<const Call*>(tag);
    result[c->node] = c->status;
  }
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return result;
}

}  // namespace

// The client's gRPC endpoint: only Link (and Health) mean anything here.
class RemoteCluster::Service {
 public:
  explicit Service(RemoteCluster& c) : c_(c) {}

  LinkHandlers handlers() {
    const grpc::Status no_sessions(grpc::StatusCode::UNIMPLEMENTED, "this is a client; it hosts no sessions");
    return {.accept = [this](const std::string& cn, LinkMessage&& in) { return accept(cn, std::move(in)); },
            .open = [no_sessions](const grpc::ServerContextBase&, const wire::SessionSetup&) { return no_sessions; },
            .close = [no_sessions](const wire::SessionRef&) { return no_sessions; },
            .health = [](wire::HealthReply* r) { r->set_role((int32_t)Role::kClient); }};
  }

  grpc::Status accept(const std::string& peer_cn, LinkMessage&& in) {
    if (in.msg.session != c_.session_)
      return {grpc::StatusCode::NOT_FOUND, "client at " + c_.address_ + ": not session " + std::to_string(in.msg.session)};
    const Admission a = admit_link_message(in, peer_cn, {Role::kClient, 0}, c_.book_, c_.plan_.beta(),
                                           "client at " + c_.address_);
    if (a.ends_session) c_.set_error(a.status.error_message());
    if (!a.status.ok()) return a.status;
    c_.handle(in.msg);
    return grpc::Status::OK;
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
  service_ = std::make_unique<Service>(*this);
  server_ = std::make_unique<LinkServer>(opts_.tls, opts_.link, opts_.listen, service_->handlers(), "client");
  links_ = std::make_unique<PeerLinks>(*channels_, server_->loop(), book_, [this](const SendFailure& f) {
    set_error(describe(f, plan_.beta(), "the client"));
  });
  address_ = !opts_.advertise.empty()
                 ? opts_.advertise
                 : opts_.listen.substr(0, opts_.listen.rfind(':')) + ":" + std::to_string(server_->port());
  book_[{Role::kClient, 0}] = address_;
  open_sessions(model);  // on failure the members' destructors end the links, then the loop
}

std::unique_ptr<RemoteCluster> RemoteCluster::from_manifest(const Model& model, const ClusterManifest& m,
                                                            RemoteClusterOptions base) {
  base.tls = load_tls_identity(m.ca, m.client_cert, m.client_key, m.crl);
  base.listen = m.client_listen;
  base.advertise = m.client_advertise;
  return std::make_unique<RemoteCluster>(model, Plan::make(m.plan, model.cfg), m.nodes, std::move(base));
}

RemoteCluster::~RemoteCluster() {
  close_sessions();
  // Once this returns no incoming call runs handle() any more.
  server_->shutdown(std::chrono::milliseconds(500));
  links_.reset();
  server_->stop();
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
    if (id.role == Role::kComp) setups[id].set_mask_secret(client_.session_secret());
    acks[id];
  }
  auto status = on_every_node(*channels_, book_, opts_.link.rpc_deadline, acks,
                              [&](wire::Node::Stub& stub, grpc::ClientContext* ctx, const NodeId& id, auto* cq) {
                                return stub.PrepareAsyncOpenSession(ctx, setups[id], cq);
                              });
  for (const auto& [id, s] : status) {
    if (s.ok()) continue;
    const std::string addr = book_.at(id);
    close_sessions();
    if (s.error_code() == grpc::StatusCode::FAILED_PRECONDITION ||
        (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED && s.error_message().find(addr) != std::string::npos))
      throw Error(s.error_message());  // the node's own words, naming it (a refusal, or a limit)
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
                acks, [&](wire::Node::Stub& stub, grpc::ClientContext* ctx, const NodeId&, auto* cq) {
                  return stub.PrepareAsyncCloseSession(ctx, ref, cq);
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
      client_.handle(std::move(m), out);  // m.type and m.from stay readable
    } catch (const std::exception& e) {
      error_ = std::string("client at ") + address_ + " failed on a " + msg_type_name(m.type) + " message from " +
               m.from.name(plan_.beta()) + ": " + e.what();
    }
  }
  for (Message& o : out.msgs) links_->send(std::move(o));
  cv_.notify_all();
}

std::optional<std::string> RemoteCluster::probe_nodes() {
  const wire::HealthRequest req;
  std::map<NodeId, wire::HealthReply> replies;
  // The RPC deadline, not stall_probe: a node answers on its link loop, so
  // one still computing a long block answers once the block is done.
  auto status = on_every_node(*channels_, book_, opts_.link.rpc_deadline, replies,
                              [&](wire::Node::Stub& stub, grpc::ClientContext* ctx, const NodeId&, auto* cq) {
                                return stub.PrepareAsyncHealth(ctx, req, cq);
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
