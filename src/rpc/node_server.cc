#include "rpc/node_server.h"

#include <spdlog/spdlog.h>

#include <set>

#include "rpc/receive.h"
#include "rpc/wire.h"
#include "util/error.h"

namespace cascade {

// What the node does with each RPC; every method runs on the LinkServer's
// loop thread and returns without blocking (a closed session is freed on the
// reaper thread).
class NodeServer::Service {
 public:
  explicit Service(NodeServer& s) : s_(s) {}

  LinkHandlers handlers() {
    return {.accept = [this](const std::string& cn, LinkMessage&& in) { return accept(cn, std::move(in)); },
            .open = [this](const grpc::ServerContextBase& ctx, const wire::SessionSetup& req) { return open(ctx, req); },
            .close = [this](const wire::SessionRef& req) { return close(req); },
            .health = [this](wire::HealthReply* r) {
              r->set_role((int32_t)s_.opts_.role);
              if (s_.opts_.model) r->set_model_sha256(s_.opts_.model->file_sha256);
              r->set_sessions(s_.open_sessions());
            }};
  }

  // Checks one incoming message (session, shape, addressee, sender and its
  // certificate) and hands it to the session's role.
  grpc::Status accept(const std::string& peer_cn, LinkMessage&& in) {
    auto session = s_.find(in.msg.session);
    if (!session && !in.malformed.empty())
      return {grpc::StatusCode::INVALID_ARGUMENT, self_name() + " refused a message: " + in.malformed};
    if (!session)
      return {grpc::StatusCode::NOT_FOUND,
              self_name() + ": no session " + std::to_string(in.msg.session) + " (never opened, closed, or idle too long)"};
    if (session->failed())
      return {grpc::StatusCode::FAILED_PRECONDITION, session->failure()};
    const Admission a = admit_link_message(in, peer_cn, session->self(), session->book(), session->beta(),
                                           session->name(), session->identities());
    if (a.ends_session) session->fail(a.status.error_message());
    if (!a.status.ok()) return a.status;
    const NodeLimits& lim = s_.opts_.limits;
    try {
      check_message_limits(lim, in.msg, session->plan(), session->name());
    } catch (const LimitError& e) {
      return refuse(*session, e.what());
    }
    if (!session->deliver(std::move(in.msg)))
      return {grpc::StatusCode::FAILED_PRECONDITION, session->failure()};
    if (std::string why = over_limit(*session); !why.empty()) return refuse(*session, why);
    return grpc::Status::OK;
  }

  // Why `session`, as it is after a message, breaks a state limit: over
  // the per-session one, or past its bound while the node's sessions are
  // over the total. Empty if it does not.
  std::string over_limit(const NodeSession& session) {
    const NodeLimits& lim = s_.opts_.limits;
    const int64_t held = session.held_bytes();
    if (held > lim.max_session_bytes)
      return session.name() + " ended the session: it holds " + format_bytes(held) + " of state, over this node's limit of " +
             format_bytes(lim.max_session_bytes) +
             " per session (--max-session-mib); use a shorter horizon or raise --max-session-mib";
    MutexLock lock(s_.mu_);
    auto it = s_.bounds_.find(session.id());
    if (it == s_.bounds_.end() || held <= it->second) return "";  // within its bound: the total was checked at open
    const int64_t reserved = s_.reserved_bytes();
    if (reserved <= lim.max_state_bytes) return "";
    return session.name() + " ended the session: its sessions hold " + format_bytes(reserved) +
           " of state, over this node's total of " + format_bytes(lim.max_state_bytes) +
           " (--max-state-mib); try later or raise --max-state-mib";
  }

  // Ends `session` for breaking a limit: its client hears `why`, its state
  // is freed, and the sender's stream ends with it.
  grpc::Status refuse(NodeSession& session, const std::string& why) {
    session.fail(why);
    s_.drop(session.id());
    return {grpc::StatusCode::RESOURCE_EXHAUSTED, why};
  }

  grpc::Status open(const grpc::ServerContextBase& ctx, const wire::SessionSetup& req) {
    const uint64_t id = req.session();
    std::string who = self_name();
    if (auto st = check_peer_is(peer_common_name(ctx), {Role::kClient, 0}, 1, who); !st.ok()) return st;
    try {
      const NodeId self = from_wire(req.self());
      const PlanSpec spec = from_wire(req.plan());
      const int beta = std::max(1, spec.beta);
      AddressBook book;
      PeerIdentities identities;
      for (const auto& p : req.peers()) {
        book[from_wire(p.id())] = p.address();
        if (!p.identity().empty()) identities[from_wire(p.id())] = p.identity();
      }
      if (book.count(self)) who = self.name(beta) + " at " + book[self];
      check(id != 0, "session id 0 is reserved");
      check(self.role == s_.opts_.role, "this node serves " + std::string(role_name(s_.opts_.role)) +
                                            " sessions, not " + role_name(self.role));
      ModelConfig cfg = from_wire(req.dims());
      if (s_.opts_.role == Role::kComp) {
        const Model& m = *s_.opts_.model;
        check(req.model_sha256() == m.file_sha256,
              "model mismatch: this node serves the model with SHA-256 " + m.file_sha256 + ", the session wants " +
                  req.model_sha256() + "; start the node with the client's model file");
        cfg = m.cfg;  // the node's own, identical by the hash
      } else {
        validate_config(cfg);
      }
      const Plan plan = Plan::make(spec, cfg);
      for (const NodeId& n : plan.nodes())
        check(book.count(n), "the session's address map has no " + n.name(beta));
      check(book.count({Role::kClient, 0}), "the session's address map has no client");
      check(self.index < (self.role == Role::kComp ? plan.alpha() : plan.n_attn()),
            self.name(beta) + " is not a node of the plan");
      check(self.role == Role::kComp || req.mask_secret().empty(),
            "the session setup gives an AttnNode the mask secret, which only CompNodes may hold");
      // Limits before any state is made. Sessions open only on this (the
      // loop) thread, so none can open between the check and the insert.
      const NodeLimits& lim = s_.opts_.limits;
      const int64_t bound = session_state_bound(plan, cfg, self, lim.max_rows);
      {
        MutexLock lock(s_.mu_);
        check(!s_.sessions_.count(id), "session " + std::to_string(id) + " is already open");
        if ((int)s_.sessions_.size() >= lim.max_sessions)
          throw LimitError(who + " refused the session: " + std::to_string(s_.sessions_.size()) +
                           " sessions are open, this node's limit (--max-sessions " +
                           std::to_string(lim.max_sessions) + "); try later or raise --max-sessions");
        check_session_limits(lim, plan, bound, s_.reserved_bytes(), who);
      }
      auto session = std::make_shared<NodeSession>(id, self, plan, cfg, s_.opts_.model, std::move(book), *s_.channels_,
                                                   s_.server_->loop(), req.mask_secret(), std::move(identities));
      MutexLock lock(s_.mu_);
      s_.sessions_[id] = std::move(session);
      s_.bounds_[id] = bound;
    } catch (const LimitError& e) {
      spdlog::warn("{}", e.what());
      return {grpc::StatusCode::RESOURCE_EXHAUSTED, e.what()};
    } catch (const std::exception& e) {
      return {grpc::StatusCode::FAILED_PRECONDITION, who + " refused the session: " + e.what()};
    }
    spdlog::info("{}: session {:016x} open", who, id);
    return grpc::Status::OK;
  }

  grpc::Status close(const wire::SessionRef& req) {
    std::shared_ptr<NodeSession> s;
    {
      MutexLock lock(s_.mu_);
      auto it = s_.sessions_.find(req.session());
      if (it == s_.sessions_.end()) return grpc::Status::OK;  // idempotent
      s = std::move(it->second);
      s_.sessions_.erase(it);
      s_.bounds_.erase(req.session());
    }
    spdlog::info("{}: session {:016x} closed", s->name(), req.session());
    s_.retire(std::move(s));
    return grpc::Status::OK;
  }

 private:
  static const char* role_name(Role r) { return r == Role::kComp ? "CompNode" : r == Role::kAttn ? "AttnNode" : "client"; }
  std::string self_name() const { return std::string(role_name(s_.opts_.role)) + " at " + s_.address_; }
  NodeServer& s_;
};

NodeServer::NodeServer(NodeServerOptions opts) : opts_(std::move(opts)) {
  if (opts_.limits.max_state_bytes <= 0) opts_.limits.max_state_bytes = default_state_bytes();
  check(opts_.role == Role::kComp || opts_.role == Role::kAttn, "a node is a CompNode or an AttnNode");
  check(opts_.role != Role::kComp || opts_.model != nullptr, "a CompNode needs its model");
  channels_ = std::make_unique<PeerChannels>(channel_credentials(opts_.tls), opts_.link);
  service_ = std::make_unique<Service>(*this);
  server_ = std::make_unique<LinkServer>(opts_.tls, opts_.link, opts_.listen, service_->handlers(), "node");
  address_ = opts_.listen.substr(0, opts_.listen.rfind(':')) + ":" + std::to_string(server_->port());
  reaper_ = std::thread([this] { reap(); });
}

NodeServer::~NodeServer() { shutdown(); }

void NodeServer::shutdown() {
  {
    MutexLock lock(reaper_mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  reaper_cv_.notify_all();
  reaper_.join();
  server_->shutdown(std::chrono::seconds(1));
  std::map<uint64_t, std::shared_ptr<NodeSession>> sessions;
  {
    MutexLock lock(mu_);
    sessions.swap(sessions_);
  }
  // Their links close on the loop, so it stops last.
  for (auto& [id, s] : sessions) release(std::move(s));
  std::vector<std::shared_ptr<NodeSession>> retired;
  {
    MutexLock lock(reaper_mu_);  // the reaper has stopped; this satisfies the analysis
    retired.swap(retired_);
  }
  for (auto& s : retired) release(std::move(s));
  server_->stop();
}

int NodeServer::open_sessions() const {
  MutexLock lock(mu_);
  return (int)sessions_.size();
}

std::shared_ptr<NodeSession> NodeServer::find(uint64_t id) const {
  MutexLock lock(mu_);
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : it->second;
}

int64_t NodeServer::held_bytes() const {
  MutexLock lock(mu_);
  int64_t n = 0;
  for (const auto& [id, s] : sessions_) n += s->held_bytes();
  return n;
}

int64_t NodeServer::reserved_bytes() const {
  int64_t n = 0;
  for (const auto& [id, s] : sessions_) {
    auto it = bounds_.find(id);
    n += std::max(s->held_bytes(), it == bounds_.end() ? 0 : it->second);
  }
  return n;
}

void NodeServer::drop(uint64_t id) {
  std::shared_ptr<NodeSession> s;
  {
    MutexLock lock(mu_);
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return;
    s = std::move(it->second);
    sessions_.erase(it);
    bounds_.erase(id);
  }
  retire(std::move(s));
}

void NodeServer::retire(std::shared_ptr<NodeSession> s) {
  {
    MutexLock lock(reaper_mu_);
    retired_.push_back(std::move(s));
  }
  reaper_cv_.notify_all();
}

void NodeServer::reap() {
  const auto period = std::min<std::chrono::milliseconds>(opts_.idle_timeout / 4 + std::chrono::milliseconds(1),
                                                          std::chrono::milliseconds(1000));
  auto next_scan = NodeSession::Clock::now() + period;
  MutexLock lock(reaper_mu_);
  while (!stopping_) {
    lock.wait_until(reaper_cv_, next_scan, [&]() REQUIRES(reaper_mu_) { return stopping_ || !retired_.empty(); });
    std::vector<std::shared_ptr<NodeSession>> done = std::move(retired_);
    retired_.clear();
    const auto now = NodeSession::Clock::now();
    if (now >= next_scan) {
      next_scan = now + period;
      MutexLock l(mu_);
      for (auto it = sessions_.begin(); it != sessions_.end();) {
        if (now - it->second->last_active() > opts_.idle_timeout) {
          spdlog::info("{}: session {:016x} idle for {} ms, freed", it->second->name(), it->first,
                       (long long)opts_.idle_timeout.count());
          done.push_back(std::move(it->second));
          bounds_.erase(it->first);
          it = sessions_.erase(it);
        } else {
          ++it;
        }
      }
    }
    lock.unlock();
    // Each client session calls from an address of its own: once no open
    // session names a freed session's client, its channel goes too (a node
    // serving session after session would otherwise keep one per session).
    std::set<std::string> clients;
    for (const auto& s : done)
      if (auto it = s->book().find({Role::kClient, 0}); it != s->book().end()) clients.insert(it->second);
    for (auto& s : done) release(std::move(s));
    if (!clients.empty()) {
      MutexLock l(mu_);
      for (const auto& [id, s] : sessions_)
        for (const auto& [peer, address] : s->book()) clients.erase(address);
      for (const std::string& a : clients) channels_->forget(a);
    }
    lock.lock();
  }
}

int NodeServer::peer_channels() const { return channels_->size(); }

}  // namespace cascade
