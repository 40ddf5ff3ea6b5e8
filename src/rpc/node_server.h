// NodeServer — a Cascade node as a gRPC service (proto/cascade.proto, mTLS).
//
// One server plays one role (CompNode or AttnNode) in any number of sessions
// at once, each opened by a client with OpenSession (see NodeSession). A
// CompNode serves the model it loaded at startup and refuses a session for a
// model with another SHA-256; an AttnNode loads no weights and takes the
// model's dimensions from the session setup. Each message arriving on a Link
// stream is checked (size limit, byte lengths, session, sender and its
// certificate, addressee) and handed to the session's role; a refused one
// ends that stream with the reason. Sessions are freed on CloseSession or
// after `idle_timeout` without messages.
//
// `limits` (rpc/node_limits.h) bound what clients may make the node hold:
// OpenSession is refused (RESOURCE_EXHAUSTED, one line naming the node, the
// limit and its flag) when the node has max_sessions open, or the session's
// horizon or state bound is over its limit or the node's total; a message
// over the row limit or past the horizon is refused, and a session whose
// state grows past its limit is failed and freed, its client told why.
// Other sessions go on untouched.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "net/tls.h"
#include "rpc/link_server.h"
#include "rpc/node_limits.h"
#include "rpc/node_session.h"
#include "rpc/peer_link.h"
#include "util/mutex.h"

namespace cascade {

struct NodeServerOptions {
  Role role = Role::kComp;
  const Model* model = nullptr;  // required for kComp, must outlive the server; unused for kAttn
  TlsIdentity tls;
  std::string listen = "127.0.0.1:0";  // host:port; port 0 picks a free one
  LinkOptions link;                    // deadline of every outgoing RPC, max message size
  std::chrono::milliseconds idle_timeout{600'000};
  NodeLimits limits;
};

class NodeServer {
 public:
  // Binds and starts serving. Throws Error when it cannot bind.
  explicit NodeServer(NodeServerOptions opts);
  ~NodeServer();  // shutdown()
  NodeServer(const NodeServer&) = delete;
  NodeServer& operator=(const NodeServer&) = delete;

  // host:port actually bound (the port filled in when 0 was asked for).
  const std::string& address() const { return address_; }
  int open_sessions() const;
  // gRPC channels to peers and clients this node holds (for tests).
  int peer_channels() const;
  // Bytes of state the open sessions' roles hold now.
  int64_t held_bytes() const;
  // Stops accepting RPCs and frees every session. Idempotent.
  void shutdown();

 private:
  class Service;
  friend class Service;
  std::shared_ptr<NodeSession> find(uint64_t id) const;
  // Removes session `id` (if open) and hands it to the reaper.
  void drop(uint64_t id);
  // What the open sessions may hold: each one's bound, or what it holds
  // when that is more.
  int64_t reserved_bytes() const REQUIRES(mu_);
  // Hands a closed session to the reaper thread, which frees it.
  void retire(std::shared_ptr<NodeSession> s);
  // The reaper: frees retired sessions and those idle too long.
  void reap();

  NodeServerOptions opts_;
  std::string address_;
  std::unique_ptr<PeerChannels> channels_;
  mutable Mutex mu_;
  std::map<uint64_t, std::shared_ptr<NodeSession>> sessions_ GUARDED_BY(mu_);
  std::map<uint64_t, int64_t> bounds_ GUARDED_BY(mu_);  // session_state_bound of each open session
  std::unique_ptr<Service> service_;
  std::unique_ptr<LinkServer> server_;
  Mutex reaper_mu_;
  std::condition_variable reaper_cv_;
  std::vector<std::shared_ptr<NodeSession>> retired_ GUARDED_BY(reaper_mu_);
  bool stopping_ GUARDED_BY(reaper_mu_) = false;
  std::thread reaper_;
};

}  // namespace cascade
