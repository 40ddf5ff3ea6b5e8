// Sending Messages to peers over gRPC: cached channels and an Outbox.
//
// PeerChannels keeps one channel (and stub) per peer address, shared by all
// sessions of a process, so TLS handshakes happen once per peer. GrpcOutbox
// is what a role sends into: send() only queues, flush() delivers. A flush
// sends to distinct peers concurrently but to any one peer in send order, and
// returns only when every RPC is acked, so per-pair FIFO order holds across
// flushes too (an Ack means the receiver queued the message). Every RPC has a
// deadline.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "net/tls.h"
#include "nodes/message.h"
#include "proto/cascade.grpc.pb.h"

namespace cascade {

struct LinkOptions {
  std::chrono::milliseconds rpc_deadline{10000};  // every RPC, every link
  int max_message_bytes = 256 << 20;              // both directions
};

// Starts a gRPC server for `service` on `listen` with mutual TLS and the
// link's size limits; *port receives the bound port (0 when it failed: the
// caller says what it was for). Used by node servers and by the client.
std::unique_ptr<grpc::Server> start_tls_server(grpc::Service* service, const TlsIdentity& tls,
                                               const LinkOptions& link, const std::string& listen, int* port);

// Who is reachable where, for one session: every node of the plan and the client.
using AddressBook = std::map<NodeId, std::string>;

class PeerChannels {
 public:
  PeerChannels(std::shared_ptr<grpc::ChannelCredentials> creds, LinkOptions opts);

  // The stub for `address` (host:port), created on first use.
  wire::Node::Stub& stub(const std::string& address);
  // A context with the link's deadline.
  std::unique_ptr<grpc::ClientContext> context() const;
  const LinkOptions& options() const { return opts_; }

 private:
  std::shared_ptr<grpc::ChannelCredentials> creds_;
  LinkOptions opts_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<wire::Node::Stub>> stubs_;
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

class GrpcOutbox : public Outbox {
 public:
  GrpcOutbox(PeerChannels& channels, const AddressBook& book) : channels_(channels), book_(book) {}

  void send(Message m) override { queued_.push_back(std::move(m)); }
  // Delivers everything queued (see above); the first failure, if any. The
  // queue is empty afterwards either way.
  std::optional<SendFailure> flush();

 private:
  PeerChannels& channels_;
  const AddressBook& book_;
  std::vector<Message> queued_;
};

}  // namespace cascade
