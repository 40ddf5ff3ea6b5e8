// LinkServer — a party's gRPC endpoint (mutual TLS) and LinkLoop, the one
// thread that runs all of its links.
//
// Every Cascade process (node or client) serves wire::Node through gRPC's
// completion-queue API: one completion queue, and one thread that waits on
// it and carries each completion through to the end — a Link stream's
// message is read, checked, handled by the role and what the role sends is
// written, all on that thread. The process's outgoing Link streams
// (PeerLinks) complete on the same queue. gRPC's callback API ran each of
// those steps on its own pool threads, about five thread wake-ups per
// message; on a host shared by many processes the wake-ups cost more than
// the messages (docs/PERFORMANCE.md).
//
// Handlers run on the loop thread and must not block (in particular, never
// wait for another completion of this loop).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "net/tls.h"
#include "proto/cascade.grpc.pb.h"
#include "rpc/wire.h"

namespace cascade {

struct LinkOptions {
  std::chrono::milliseconds rpc_deadline{10000};  // every unary RPC, every link
  int max_message_bytes = 256 << 20;              // both directions
  // HTTP/2 keepalive on open Link streams: a peer that does not answer a
  // ping within keepalive_timeout ends its links with UNAVAILABLE. A peer
  // answers pings on its link loop, after the block it computes: the
  // timeout is long (a frozen node is found sooner by the client's probe).
  std::chrono::milliseconds keepalive_time{10000};
  std::chrono::milliseconds keepalive_timeout{30000};
};

// Sets the HTTP/2 flow control of every link, both ends: a fixed 8 MiB
// window per stream instead of gRPC's bandwidth probing, whose probes are
// pings the peer must answer: more wake-ups on every burst.
void flow_control_args(const std::function<void(const char* key, int value)>& set);

// A completion queue and the thread that drives it.
class LinkLoop {
 public:
  // An operation in flight: proceed(ok) runs on the loop thread when it
  // completes (ok = false: it failed or the call ended).
  struct Tag {
    virtual ~Tag() = default;
    virtual void proceed(bool ok) = 0;
  };
  explicit LinkLoop(std::unique_ptr<grpc::ServerCompletionQueue> cq);
  ~LinkLoop();  // stop()
  grpc::ServerCompletionQueue* cq() { return cq_.get(); }
  // Shuts the queue down and waits until every operation on it has
  // completed. Only after the server's Shutdown and once every outgoing
  // stream has ended. Idempotent.
  void stop();

 private:
  std::unique_ptr<grpc::ServerCompletionQueue> cq_;
  std::thread thread_;
  bool stopped_ = false;
};

// A member function of T as a Tag.
template <class T>
struct MemberTag final : LinkLoop::Tag {
  MemberTag(T* self, void (T::*fn)(bool)) : self(self), fn(fn) {}
  void proceed(bool ok) override { (self->*fn)(ok); }
  T* self;
  void (T::*fn)(bool);
};

// What a party does with each RPC. All run on the loop thread.
struct LinkHandlers {
  // One message of a Link stream (decode_link's, perhaps malformed), with
  // the sender's verified certificate name; a non-OK status refuses it and
  // ends the stream with that status.
  std::function<grpc::Status(const std::string& peer_cn, LinkMessage&&)> accept;
  std::function<grpc::Status(const grpc::ServerContextBase&, const wire::SessionSetup&)> open;
  std::function<grpc::Status(const wire::SessionRef&)> close;
  std::function<void(wire::HealthReply*)> health;
};

class LinkServer {
 public:
  // Binds `listen` (host:port; port 0 picks one) with mutual TLS and the
  // link's size limits, and starts the loop. Throws Error naming `what` and
  // the address when it cannot bind.
  LinkServer(const TlsIdentity& tls, const LinkOptions& link, const std::string& listen, LinkHandlers handlers,
             const std::string& what);
  ~LinkServer();  // shutdown(); stop()
  LinkServer(const LinkServer&) = delete;
  LinkServer& operator=(const LinkServer&) = delete;

  int port() const { return port_; }
  LinkLoop& loop() { return *loop_; }
  // Ends every incoming call (after `grace`) and accepts no more, and
  // returns once no handler runs or will run; the loop keeps running for
  // outgoing streams. Idempotent. Not on the loop thread.
  void shutdown(std::chrono::milliseconds grace);
  // shutdown(), then stops the loop: outgoing streams must have ended.
  void stop();

 private:
  class LinkCall;
  template <class Req, class Rep>
  class UnaryCall;
  // Counts a call object (waiting for a call or serving one) while it lives.
  struct Live {
    explicit Live(LinkServer& s);
    ~Live();
    LinkServer& s;
  };
  void await_calls();  // one pending request per method

  LinkHandlers handlers_;
  // Link is served as bytes (decode_link), the unary methods as protobuf.
  using Service = wire::Node::WithRawMethod_Link<wire::Node::WithAsyncMethod_OpenSession<
      wire::Node::WithAsyncMethod_CloseSession<wire::Node::WithAsyncMethod_Health<wire::Node::Service>>>>;
  Service service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<LinkLoop> loop_;
  int port_ = 0;
  std::atomic<bool> shutting_down_{false};
  std::mutex live_mu_;
  std::condition_variable live_cv_;
  int live_calls_ = 0;
};

}  // namespace cascade
