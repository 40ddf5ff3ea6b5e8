#include "rpc/receive.h"

#include "net/tls.h"

namespace cascade {

Admission admit_link_message(const LinkMessage& in, const std::string& peer_cn, const NodeId& self,
                             const AddressBook& book, int beta, const std::string& who) {
  if (!in.malformed.empty())
    return {{grpc::StatusCode::INVALID_ARGUMENT, who + " refused a message: " + in.malformed}, true};
  const Message& m = in.msg;
  if (!(m.to == self))
    return {{grpc::StatusCode::INVALID_ARGUMENT, who + ": message addressed to " + m.to.name(beta) + ", not to it"}};
  if (!book.count(m.from))
    return {{grpc::StatusCode::PERMISSION_DENIED, who + ": sender is not a party of the session"}};
  return {check_peer_is(peer_cn, m.from, beta, who)};
}

}  // namespace cascade
