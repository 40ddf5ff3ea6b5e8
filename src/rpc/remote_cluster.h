// RemoteCluster — the client's side of Cascade over gRPC with mutual TLS.
//
// It runs the Client role locally and a small gRPC server of its own, where
// nodes deliver what they send to the client (attention requests over the
// client's head keys, final rows, errors). Construction opens the session on
// every node of the plan; step() sends the step's messages and waits until
// the client has every final row, an error arrives, or the step deadline
// passes. While nothing arrives for `stall_probe`, it health-checks the nodes
// (each within the RPC deadline: a node busy computing answers after its
// block), so a dead or frozen node is named within stall_probe + the RPC
// deadline instead of at the step deadline.
// Errors throw cascade::Error naming the node and why, e.g.
//   "attn(2,3) at 127.0.0.1:5012 is unreachable: ... (reported by comp1 at ...)";
// after one, the cluster is unusable (step() throws it again). The destructor
// closes the sessions.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <grpcpp/grpcpp.h>

#include "engine/backend.h"
#include "net/manifest.h"
#include "net/tls.h"
#include "nodes/client.h"
#include "rpc/link_server.h"
#include "rpc/peer_link.h"

namespace cascade {

struct RemoteClusterOptions {
  TlsIdentity tls;                     // the client's certificate, key and the CA
  std::string listen = "127.0.0.1:0";  // where the client's server binds
  std::string advertise;               // address nodes call back; empty = the bound listen address
  LinkOptions link;                    // deadline of every RPC, max message size
  std::chrono::milliseconds step_deadline{120'000};
  std::chrono::milliseconds stall_probe{1000};
};

class RemoteCluster : public Backend {
 public:
  // Opens the session on every node in `nodes` (which must cover the plan).
  // Throws Error naming the first node that is unreachable or refuses.
  RemoteCluster(const Model& model, const Plan& plan, AddressBook nodes, RemoteClusterOptions opts);
  // From a manifest: its plan, nodes and TLS files.
  static std::unique_ptr<RemoteCluster> from_manifest(const Model& model, const ClusterManifest& m,
                                                      RemoteClusterOptions base = {});
  ~RemoteCluster() override;
  RemoteCluster(const RemoteCluster&) = delete;
  RemoteCluster& operator=(const RemoteCluster&) = delete;

  void step(const int32_t* tokens, int n, bool all_rows, std::vector<float>& logits) override;
  int position() const override;

  uint64_t session() const { return session_; }
  const std::string& address() const { return address_; }  // where nodes reach the client
  const Plan& plan() const { return plan_; }
  const AddressBook& book() const { return book_; }
  // The error that ended the session, if any.
  std::optional<std::string> error() const;

 private:
  class Service;
  void handle(Message& m);
  void set_error(const std::string& e);
  // Node that fails a Health RPC, if any.
  std::optional<std::string> probe_nodes();
  void open_sessions(const Model& model);
  void close_sessions();

  const Plan plan_;
  RemoteClusterOptions opts_;
  uint64_t session_;
  mutable std::mutex mu_;  // guards client_, error_, last_activity_
  std::condition_variable cv_;
  Client client_;
  std::optional<std::string> error_;
  std::chrono::steady_clock::time_point last_activity_;
  AddressBook book_;  // nodes and the client
  std::string address_;
  std::unique_ptr<PeerChannels> channels_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<LinkServer> server_;  // its loop runs links_
  std::unique_ptr<PeerLinks> links_;    // so these end first
  bool closed_ = false;
};

}  // namespace cascade
