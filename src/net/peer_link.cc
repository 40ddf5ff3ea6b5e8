#include "net/peer_link.h"

#include "net/tls.h"

#include <condition_variable>

#include "net/wire.h"

namespace cascade {

PeerChannels::PeerChannels(std::shared_ptr<grpc::ChannelCredentials> creds, LinkOptions opts)
    : creds_(std::move(creds)), opts_(opts) {}

wire::Node::Stub& PeerChannels::stub(const std::string& address) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& s = stubs_[address];
  if (!s) {
    grpc::ChannelArguments args;
    args.SetMaxSendMessageSize(opts_.max_message_bytes);
    args.SetMaxReceiveMessageSize(opts_.max_message_bytes);
    // A dead peer should be retried soon after it comes back, not after
    // gRPC's default back-off of up to two minutes.
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
    s = wire::Node::NewStub(grpc::CreateCustomChannel(address, creds_, args));
  }
  return *s;
}

std::unique_ptr<grpc::ClientContext> PeerChannels::context() const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + opts_.rpc_deadline);
  return ctx;
}

std::string describe(const SendFailure& f, int beta, const std::string& reporter) {
  const std::string who = f.to.name(beta) + " at " + f.address;
  const std::string by = " (reported by " + reporter + ")";
  switch (f.status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      return who + " is unreachable: " + f.status.error_message() + by;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return who + " did not answer in time: " + f.status.error_message() + by;
    case grpc::StatusCode::FAILED_PRECONDITION:
      return f.status.error_message();
    default:
      return who + " refused the message: " + f.status.error_message() + by;
  }
}

std::unique_ptr<grpc::Server> start_tls_server(grpc::Service* service, const TlsIdentity& tls,
                                               const LinkOptions& link, const std::string& listen, int* port) {
  grpc::ServerBuilder b;
  *port = 0;
  b.AddListeningPort(listen, server_credentials(tls), port);
  b.SetMaxReceiveMessageSize(link.max_message_bytes);
  b.SetMaxSendMessageSize(link.max_message_bytes);
  b.RegisterService(service);
  auto server = b.BuildAndStart();
  if (!server) *port = 0;
  return server;
}

std::optional<SendFailure> GrpcOutbox::flush() {
  std::vector<Message> msgs = std::move(queued_);
  queued_.clear();
  // Per destination, its messages in send order; round k sends the k-th of each.
  std::map<NodeId, std::vector<const Message*>> by_dest;
  for (const Message& m : msgs) by_dest[m.to].push_back(&m);

  std::optional<SendFailure> failure;
  for (size_t round = 0; !failure; ++round) {
    struct Call {
      NodeId to;
      std::string address;
      wire::Envelope env;
      wire::Ack ack;
      std::unique_ptr<grpc::ClientContext> ctx;
      grpc::Status status;
    };
    std::vector<std::unique_ptr<Call>> calls;
    for (auto& [to, list] : by_dest) {
      if (round >= list.size()) continue;
      auto c = std::make_unique<Call>();
      c->to = to;
      auto it = book_.find(to);
      if (it == book_.end()) {
        failure = SendFailure{to, "?", grpc::Status(grpc::StatusCode::NOT_FOUND, "no address for it in the session")};
        break;
      }
      c->address = it->second;
      to_wire(*list[round], &c->env);
      calls.push_back(std::move(c));
    }
    if (calls.empty() || failure) break;

    std::mutex mu;
    std::condition_variable cv;
    size_t pending = calls.size();
    for (auto& c : calls) {
      c->ctx = channels_.context();
      Call* call = c.get();
      channels_.stub(call->address).async()->Deliver(call->ctx.get(), &call->env, &call->ack,
                                                     [&, call](grpc::Status s) {
                                                       std::lock_guard<std::mutex> lock(mu);
                                                       call->status = std::move(s);
                                                       if (--pending == 0) cv.notify_one();
                                                     });
    }
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return pending == 0; });
    for (auto& c : calls)
      if (!c->status.ok()) {
        failure = SendFailure{c->to, c->address, c->status};
        break;
      }
  }
  return failure;
}

}  // namespace cascade
