// The receive policy every party applies to a Link message before its role
// sees it, the same on nodes (NodeServer) and on the client (RemoteCluster):
//   1. it decoded to a well-formed Message (wire.h's decode_link);
//   2. it is addressed to this party;
//   3. its sender is a party of the session;
//   4. the sender's verified certificate names that party.
// The session lookup before it, and what a refusal does to the session, are
// the caller's: a malformed message (1) ends the session, since the role's
// state could no longer be trusted; the others only refuse the stream.
#pragma once

#include <string>

#include <grpcpp/support/status.h>

#include "net/address_book.h"
#include "rpc/wire.h"

namespace cascade {

struct Admission {
  grpc::Status status;  // OK: hand the message to the role
  bool ends_session = false;
};

// `who` names the receiver in errors ("comp1 at 127.0.0.1:5001").
Admission admit_link_message(const LinkMessage& in, const std::string& peer_cn, const NodeId& self,
                             const AddressBook& book, int beta, const std::string& who);

}  // namespace cascade
