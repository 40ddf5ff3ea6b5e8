// NodeRole — one party of the protocol, as whoever delivers its messages
// sees it: a pure message handler. CompNode, AttnNode and Client implement
// it; LocalCluster (queues) and NodeSession (gRPC) deliver to it and know no
// role's insides.
//
// Every role's handle() reads the same way: count the message, admit it
// (is the sender, kind, size and every position one the plan allows here?
// Error if not), then advance the role's state machine, which may send.
#pragma once

#include "nodes/message.h"
#include "nodes/role_stats.h"

namespace cascade {

class NodeRole {
 public:
  virtual ~NodeRole() = default;
  virtual NodeId id() const = 0;
  // Handles one message addressed to this role; what it sends goes to `out`.
  // Throws Error on a message the plan does not allow or that does not fit
  // the role's state. Takes the message by value so row buffers move.
  virtual void handle(Message m, Outbox& out) = 0;
  virtual const RoleStats& stats() const = 0;
  // Bytes of session state it holds now (its buffers' capacity): what a
  // node's limits check after every message (rpc/node_limits.h).
  virtual int64_t held_bytes() const { return 0; }
};

}  // namespace cascade
