// NodeSession — one client's session on a node: one role object, its inbox
// thread, and the links to the session's peers.
//
// Messages are handled on the inbox thread in arrival order; what the role
// sends is flushed after each message. The first failure — the role throws
// (a plan violation, a malformed message) or a send fails — is reported to
// the session's client as a kError message naming this node and the reason,
// and the session stops handling messages (it is torn down: the server frees
// it on CloseSession or when idle).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "net/inbox.h"
#include "net/peer_link.h"
#include "nodes/attn_node.h"
#include "nodes/comp_node.h"

namespace cascade {

class NodeSession {
 public:
  using Clock = std::chrono::steady_clock;

  // `model` is the node's model for a CompNode, null for an AttnNode (which
  // only needs `cfg`). `book` holds every party, this node included.
  NodeSession(uint64_t id, NodeId self, const PlanSpec& spec, const ModelConfig& cfg, const Model* model,
              AddressBook book, PeerChannels& channels);
  ~NodeSession();  // stops the inbox thread

  // Queues `m` for the role. Refused (false) once the session has failed.
  bool deliver(Message m);
  // Marks the session failed and tells the client why (once; later calls
  // are ignored). Safe from any thread.
  void fail(const std::string& reason);

  bool failed() const { return failed_; }
  std::string failure() const;
  Clock::time_point last_active() const { return Clock::time_point(Clock::duration(last_active_.load())); }
  // "comp1 at 127.0.0.1:5001": how errors name this node.
  const std::string& name() const { return name_; }
  const AddressBook& book() const { return book_; }
  NodeId self() const { return self_; }
  int beta() const { return plan_.beta(); }

 private:
  void handle(Message& m);
  void touch() { last_active_ = Clock::now().time_since_epoch().count(); }

  const uint64_t id_;
  const NodeId self_;
  const Plan plan_;
  const ModelConfig cfg_;
  const AddressBook book_;
  const std::string name_;
  PeerChannels& channels_;
  std::unique_ptr<CompNode> comp_;
  std::unique_ptr<AttnNode> attn_;
  GrpcOutbox outbox_;

  std::atomic<bool> failed_{false};
  mutable std::mutex failure_mu_;
  std::string failure_;
  std::atomic<Clock::rep> last_active_;
  std::unique_ptr<Inbox> inbox_;  // last: its thread uses everything above
};

}  // namespace cascade
