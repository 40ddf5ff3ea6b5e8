// SparePool — where the nodes of a plan are now, and the spares that may take
// a failed node's place. One pool is shared by every session of a client
// process, so a node that dies under many sessions costs one spare.
//
// replace(node, address) is how a session reports that `node`, which it
// found at `address`, is gone. The first report of an address takes a spare
// of the node's role: it must answer Health within the RPC deadline, serve
// that role and, for a CompNode, the client's model; the name on its
// certificate is learnt from the TLS handshake and becomes the node's
// identity in later sessions. Spares that fail the check are dropped. Every
// later report of the same address gets the spare the first one took.
// Thread-safe.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "net/address_book.h"
#include "net/tls.h"
#include "rpc/link_server.h"

namespace cascade {

class PeerChannels;

// Every node's address, and the certificate names that are not the default.
struct Placement {
  AddressBook nodes;
  PeerIdentities identities;
};

class SparePool {
 public:
  // `nodes`: the plan's nodes; `tls`: the client's identity (to check spares);
  // `model_sha256`: the model a CompNode spare must serve.
  SparePool(AddressBook nodes, std::vector<SpareNode> spares, TlsIdentity tls, std::string model_sha256,
            LinkOptions link = {});
  ~SparePool();

  Placement placement() const;

  struct Outcome {
    Placement placement;  // with the spare in the node's place
    std::string spare;    // its address
    bool taken_now;       // this call took it (false: an earlier report did)
  };
  // nullopt when no spare of the node's role is left that passes the check.
  std::optional<Outcome> replace(const NodeId& node, const std::string& failed_address);

  void add_spare(SpareNode spare);
  int spares_left(Role role) const;
  int spares_dropped() const;  // failed the check when their turn came

 private:
  // The spare's certificate name, or why it cannot serve as `node`.
  std::optional<std::string> check_spare(const SpareNode& s, const NodeId& node, std::string& why);

  mutable std::mutex mu_;
  Placement placement_;
  std::deque<SpareNode> spares_;
  int dropped_ = 0;
  const TlsIdentity tls_;
  const std::string model_sha256_;
  const LinkOptions link_;
  std::unique_ptr<PeerChannels> channels_;
};

}  // namespace cascade
