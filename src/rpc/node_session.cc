#include "rpc/node_session.h"

#include <spdlog/spdlog.h>

#include <thread>

#include "nodes/attn_node.h"
#include "nodes/comp_node.h"
#include "util/error.h"

namespace cascade {

namespace {
std::string node_name(const NodeId& self, const Plan& plan, const AddressBook& book) {
  auto it = book.find(self);
  return self.name(plan.beta()) + " at " + (it == book.end() ? std::string("?") : it->second);
}
}  // namespace

NodeSession::NodeSession(uint64_t id, NodeId self, Plan plan, const ModelConfig& cfg, const Model* model,
                         AddressBook book, PeerChannels& channels, LinkLoop& loop, std::string mask_secret,
                         PeerIdentities identities)
    : id_(id),
      self_(self),
      plan_(std::move(plan)),
      cfg_(cfg),
      book_(std::move(book)),
      identities_(std::move(identities)),
      name_(node_name(self, plan_, book_)),
      links_(channels, loop, book_, [this](const SendFailure& f) { fail(describe(f, plan_.beta(), name_)); }) {
  if (self.role == Role::kComp) {
    check(model != nullptr, name_ + ": a CompNode session needs the model");
    role_ = std::make_unique<CompNode>(*model, plan_, self.index, id, std::move(mask_secret));
  } else {
    role_ = std::make_unique<AttnNode>(cfg_, plan_, self.index, id);
  }
  // Links are opened on first use; the TLS handshakes of a process's first
  // session would then sit on the critical path of its first steps (a decode
  // step reaches new CompNode/AttnNode pairs for many tokens). Start them all
  // now, in the background: a CompNode sends to every AttnNode and the
  // client, an AttnNode to every CompNode (paper) or to the other AttnNodes
  // of its query shard, the mergers (private). Channels are kept per
  // process, so later sessions find them open.
  for (const auto& [peer, address] : book_) {
    const bool sends_to =
        self.role == Role::kComp ? peer.role != Role::kComp
        : peer.role == Role::kComp ? true
        : plan_.is_private() && peer.role == Role::kAttn && !(peer == self) &&
              plan_.attn_q_shard(peer.index) == plan_.attn_q_shard(self.index);
    if (sends_to) channels.connect_soon(address);
  }
  touch();
}

NodeSession::~NodeSession() { links_.close(); }

bool NodeSession::deliver(Message m) {
  if (failed_) return false;
  touch();
  MutexLock lock(role_mu_);
  handle(m);
  return true;
}

void release(std::shared_ptr<NodeSession> session) {
  while (session && session.use_count() > 1) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

std::string NodeSession::failure() const {
  MutexLock lock(failure_mu_);
  return failure_;
}

void NodeSession::handle(Message& m) {
  if (failed_) return;
  try {
    // The scalar fields stay readable after the move (for the message below).
    role_->handle(std::move(m), links_);
  } catch (const std::exception& e) {
    fail(name_ + " failed on a " + msg_type_name(m.type) + " message from " + m.from.name(plan_.beta()) + ": " +
         e.what());
    return;
  }
  held_ = role_->held_bytes();
  touch();
}

void NodeSession::fail(const std::string& reason) {
  {
    MutexLock lock(failure_mu_);
    if (failed_.exchange(true)) return;
    failure_ = reason;
  }
  spdlog::warn("session {:016x}: {}", id_, reason);
  Message e;
  e.type = MsgType::kError;
  e.from = self_;
  e.to = {Role::kClient, 0};
  e.session = id_;
  e.text = reason;
  links_.send(std::move(e));  // dropped if the link to the client is what failed
}

}  // namespace cascade
