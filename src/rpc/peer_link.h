// Links between parties over gRPC: cached channels and the sending end of a
// session's links (PeerLinks); the receiving end is LinkServer.
//
// PeerChannels keeps one channel (and stub) per peer address, shared by all
// sessions of a process, so TLS handshakes happen once per peer. A session
// sends through PeerLinks: one long-lived `Link` stream per destination,
// opened on first use, carrying that destination's messages in send order
// (so per-pair FIFO order holds). send() only converts and queues; it never
// waits for the network, so a role's next message is built while the last
// one travels. Unary RPCs (open, close, health) have a deadline; a Link
// stream lives as long as its session, and a peer that dies or stops
// answering is found by TCP errors, HTTP/2 keepalive pings and the client's
// health probe (RemoteCluster) instead.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "net/address_book.h"
#include "net/tls.h"
#include "nodes/message.h"
#include "proto/cascade.grpc.pb.h"
#include "rpc/link_server.h"
#include "util/mutex.h"

namespace cascade {

class PeerChannels {
 public:
  PeerChannels(std::shared_ptr<grpc::ChannelCredentials> creds, LinkOptions opts);

  // The stub for `address` (host:port), created on first use.
  wire::Node::Stub& stub(const std::string& address);
  // The same channel's Link method, as bytes (encode_link's).
  grpc::GenericStub& link_stub(const std::string& address);
  // Starts connecting to `address` (TCP and the TLS handshake) in the
  // background, so that the first message there does not wait for it.
  void connect_soon(const std::string& address);
  // A context with the link's deadline, for unary RPCs.
  std::unique_ptr<grpc::ClientContext> context() const;
  const LinkOptions& options() const { return opts_; }
  // Drops the channel to `address`. The caller guarantees that nothing will
  // use a stub of it obtained before (no session sends there any more);
  // calls already made keep their own reference to the channel.
  void forget(const std::string& address);
  int size();  // channels held

 private:
  std::shared_ptr<grpc::ChannelCredentials> creds_;
  LinkOptions opts_;
  Mutex mu_;
  struct Stubs {
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<wire::Node::Stub> typed;
    std::unique_ptr<grpc::GenericStub> link;
  };
  Stubs& stubs(const std::string& address) REQUIRES(mu_);
  std::map<std::string, Stubs> stubs_ GUARDED_BY(mu_);
};

struct SendFailure {
  NodeId to;
  std::string address;
  grpc::Status status;
};

// "attn(2,3) at 127.0.0.1:5012 is unreachable: <gRPC's reason> (reported by
// <reporter>)", or "... refused the message: <the receiver's reason>". A
// receiver whose session already failed answers FAILED_PRECONDITION with its
// own account (naming itself), which is returned as it is.
std::string describe(const SendFailure& f, int beta, const std::string& reporter);

// The sending end of one session's links.
class PeerLinks : public Outbox {
 public:
  // Called at most once, on the loop thread, for the first link that ends
  // abnormally (the peer is gone or refused a message). Not called for links
  // ended by close().
  using FailureHandler = std::function<void(const SendFailure&)>;

  // The links' operations complete on `loop` (the process's LinkServer),
  // which must run until close() has returned.
  PeerLinks(PeerChannels& channels, LinkLoop& loop, const AddressBook& book, FailureHandler on_failure);
  ~PeerLinks();  // close()
  PeerLinks(const PeerLinks&) = delete;
  PeerLinks& operator=(const PeerLinks&) = delete;

  // Queues `m` on the link to m.to (opening it on first use). Thread-safe.
  // Dropped once the link or this object is closed or failed (which has been
  // or will be reported); a destination without an address fails at once.
  void send(Message m) override;
  // Half-closes every link and waits up to `grace` for the peers to take
  // what is queued; then cancels what remains. Idempotent. Waits for the
  // loop, so never on the loop thread.
  void close(std::chrono::milliseconds grace = std::chrono::milliseconds(1000));

 private:
  class Stream;
  void report(const SendFailure& f);

  PeerChannels& channels_;
  LinkLoop& loop_;
  const AddressBook& book_;
  FailureHandler on_failure_;
  Mutex mu_;
  bool closed_ GUARDED_BY(mu_) = false;
  bool reported_ GUARDED_BY(mu_) = false;
  std::map<NodeId, std::unique_ptr<Stream>> streams_ GUARDED_BY(mu_);
};

}  // namespace cascade
