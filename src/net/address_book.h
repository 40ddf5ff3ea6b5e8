// AddressBook — who is reachable where, for one session: every node of the
// plan and the client, as host:port.
#pragma once

#include <map>
#include <string>

#include "plan/plan.h"

namespace cascade {

using AddressBook = std::map<NodeId, std::string>;

// The certificate common name of each party whose name is not the default
// one for its NodeId (identity_name: "comp<r>", "attn<i>", "client"): a
// spare that took over a failed node's place keeps its own certificate.
using PeerIdentities = std::map<NodeId, std::string>;

// A node daemon that runs with no place in the plan, ready to take over the
// place of a failed node of the same role (a CompNode spare has the model).
struct SpareNode {
  Role role = Role::kComp;
  std::string address;  // host:port
};

}  // namespace cascade
