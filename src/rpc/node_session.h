// NodeSession — one client's session on a node: one role (NodeRole) and the
// links to the session's peers.
//
// A message is handled on the loop thread that read it (LinkServer), one at
// a time (the role is a single-threaded state machine), in arrival order per
// sender: a thread of its own would add a wake-up to every message, and
// wake-ups are what messages cost on a shared host (docs/PERFORMANCE.md). What the role
// sends goes straight onto the session's Link streams, without waiting.
// The first failure — the role throws
// (a plan violation, a malformed message) or a send fails — is reported to
// the session's client as a kError message naming this node and the reason,
// and the session stops handling messages (it is torn down: the server frees
// it on CloseSession or when idle).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "nodes/role.h"
#include "rpc/peer_link.h"
#include "util/mutex.h"

namespace cascade {

class NodeSession {
 public:
  using Clock = std::chrono::steady_clock;

  // `plan` is the session's (already checked). `model` is the node's model
  // for a CompNode, null for an AttnNode (which only needs `cfg`). `book`
  // holds every party, this node included; `identities` the certificate
  // names that are not the default (spares in a failed node's place).
  NodeSession(uint64_t id, NodeId self, Plan plan, const ModelConfig& cfg, const Model* model,
              AddressBook book, PeerChannels& channels, LinkLoop& loop, std::string mask_secret = {},
              PeerIdentities identities = {});
  // Closes the links (waiting up to a second for peers to take what is
  // queued). Must not run on the loop thread: release() first.
  ~NodeSession();

  // Hands `m` to the role now. Refused (false) once the session has failed.
  // Afterwards held_bytes() is what the role holds.
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
  // Certificate names that are not the default (spares in a failed node's place).
  const PeerIdentities& identities() const { return identities_; }
  NodeId self() const { return self_; }
  int beta() const { return plan_.beta(); }
  const Plan& plan() const { return plan_; }
  uint64_t id() const { return id_; }
  // Bytes of state the role held after the last message (node limits).
  int64_t held_bytes() const { return held_; }

 private:
  void handle(Message& m) REQUIRES(role_mu_);
  void touch() { last_active_ = Clock::now().time_since_epoch().count(); }

  const uint64_t id_;
  const NodeId self_;
  const Plan plan_;
  const ModelConfig cfg_;
  const AddressBook book_;
  const PeerIdentities identities_;
  const std::string name_;
  Mutex role_mu_;  // one message at a time
  std::unique_ptr<NodeRole> role_ PT_GUARDED_BY(role_mu_);

  std::atomic<bool> failed_{false};
  mutable Mutex failure_mu_;
  std::string failure_ GUARDED_BY(failure_mu_);
  std::atomic<Clock::rep> last_active_;
  std::atomic<int64_t> held_{0};
  PeerLinks links_;     // last: its failure handler uses the state above
};

// Drops the owner's reference to a session that is no longer findable,
// after waiting until the loop thread no longer uses it (deliver() holds a
// reference while it runs), so the destructor runs on the calling thread.
void release(std::shared_ptr<NodeSession> session);

}  // namespace cascade
