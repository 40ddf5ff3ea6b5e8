// AddressBook — who is reachable where, for one session: every node of the
// plan and the client, as host:port.
#pragma once

#include <map>
#include <string>

#include "plan/plan.h"

namespace cascade {

using AddressBook = std::map<NodeId, std::string>;

}  // namespace cascade
