#include "net/peer_link.h"

#include <deque>

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
    // Pings on open Link streams find a peer that stopped answering.
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, (int)opts_.keepalive_time.count());
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, (int)opts_.keepalive_timeout.count());
    args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
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
  // Accept the peers' keepalive pings (gRPC's default allows one per 5 min).
  b.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                       (int)std::min<long long>(link.keepalive_time.count(), 1000));
  b.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  b.RegisterService(service);
  auto server = b.BuildAndStart();
  if (!server) *port = 0;
  return server;
}

// One Link stream. Writes go one at a time (gRPC allows one outstanding
// write): write() starts one when none is in flight, OnWriteDone starts the
// next. A read stays pending for the stream's life; it completes only when
// the receiver ends the stream, which is how a refusal is noticed at once.
// A hold keeps OnDone (and the end of gRPC's use of this object) from
// running while a thread outside the reactions may still start a write; it
// is removed exactly once, when the stream is closing or broken and no
// write is in flight.
class PeerLinks::Stream : public grpc::ClientBidiReactor<wire::Envelope, wire::Ack> {
 public:
  Stream(PeerLinks& owner, NodeId to, std::string address)
      : owner_(owner), to_(to), address_(std::move(address)) {
    owner_.channels_.stub(address_).async()->Link(&ctx_, this);
  }
  // Separate from the constructor because reactions may run inline in
  // StartCall, and they take locks the constructing thread may hold.
  void start() {
    StartRead(&ack_);
    AddHold();
    StartCall();
  }

  void write(wire::Envelope env) {
    wire::Envelope* first;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closing_ || broken_) return;  // the end is (or will be) reported by OnDone
      queue_.push_back(std::move(env));
      if (writing_) return;
      writing_ = true;
      first = &queue_.front();
    }
    StartWrite(first);
  }

  void OnWriteDone(bool ok) override {
    wire::Envelope* next = nullptr;
    End end;
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.pop_front();
      if (!ok) broken_ = true;
      if (!broken_ && !queue_.empty()) {
        next = &queue_.front();
      } else {
        writing_ = false;
        queue_.clear();
        end = end_if_idle();
      }
    }
    if (next) StartWrite(next);
    finish(end);
  }

  // The receiver ended the stream (it never writes): refused, shut down, or
  // answered our half-close.
  void OnReadDone(bool) override {
    End end;
    {
      std::lock_guard<std::mutex> lock(mu_);
      broken_ = true;
      if (writing_) queue_.erase(queue_.begin() + 1, queue_.end());  // the front is in flight
      end = end_if_idle();
    }
    finish(end);
  }

  void OnDone(const grpc::Status& s) override {
    bool asked_to_close;
    {
      std::lock_guard<std::mutex> lock(mu_);
      asked_to_close = closing_;
    }
    if (!asked_to_close) {
      // An end we did not ask for is a failure even when the peer calls it OK.
      owner_.report({to_, address_, s.ok() ? grpc::Status(grpc::StatusCode::UNAVAILABLE, "the peer ended the link") : s});
    }
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
    done_cv_.notify_all();
  }

  // Half-closes once the queue has drained.
  void close() {
    End end;
    {
      std::lock_guard<std::mutex> lock(mu_);
      closing_ = true;
      end = end_if_idle();
    }
    finish(end);
  }

  // Waits for OnDone until `deadline`, then cancels and waits for it.
  void wait_done(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock<std::mutex> lock(mu_);
    if (done_cv_.wait_until(lock, deadline, [&] { return done_; })) return;
    lock.unlock();
    ctx_.TryCancel();
    lock.lock();
    done_cv_.wait(lock, [&] { return done_; });
  }

 private:
  struct End {
    bool release = false;      // remove the hold
    bool writes_done = false;  // half-close first
  };
  // Under mu_: once closing or broken with no write in flight, the hold goes.
  End end_if_idle() {
    End e;
    if (writing_ || released_ || !(closing_ || broken_)) return e;
    released_ = true;
    e.release = true;
    e.writes_done = !broken_;
    return e;
  }
  void finish(const End& e) {
    if (e.writes_done) StartWritesDone();
    if (e.release) RemoveHold();
  }

  PeerLinks& owner_;
  const NodeId to_;
  const std::string address_;
  grpc::ClientContext ctx_;
  wire::Ack ack_;
  std::mutex mu_;
  std::condition_variable done_cv_;
  std::deque<wire::Envelope> queue_;  // front: the write in flight, if writing_
  bool writing_ = false, closing_ = false, broken_ = false, released_ = false, done_ = false;
};

PeerLinks::PeerLinks(PeerChannels& channels, const AddressBook& book, FailureHandler on_failure)
    : channels_(channels), book_(book), on_failure_(std::move(on_failure)) {}

PeerLinks::~PeerLinks() { close(); }

void PeerLinks::send(Message m) {
  Stream* stream = nullptr;
  bool opened = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return;
    auto& slot = streams_[m.to];
    if (!slot) {
      auto it = book_.find(m.to);
      if (it != book_.end()) {
        slot = std::make_unique<Stream>(*this, m.to, it->second);
        opened = true;
      }
    }
    stream = slot.get();
  }
  if (!stream) {
    report({m.to, "?", grpc::Status(grpc::StatusCode::NOT_FOUND, "no address for it in the session")});
    return;
  }
  if (opened) stream->start();  // a write from another thread before this is fine: gRPC queues it
  wire::Envelope env;
  to_wire(m, &env);
  stream->write(std::move(env));
}

void PeerLinks::close(std::chrono::milliseconds grace) {
  std::vector<Stream*> open;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return;
    closed_ = true;
    for (auto& [to, s] : streams_)
      if (s) open.push_back(s.get());
  }
  for (Stream* s : open) s->close();
  const auto deadline = std::chrono::steady_clock::now() + grace;
  for (Stream* s : open) s->wait_done(deadline);
  std::lock_guard<std::mutex> lock(mu_);
  streams_.clear();
}

void PeerLinks::report(const SendFailure& f) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_ || reported_) return;
    reported_ = true;
  }
  on_failure_(f);
}

grpc::ServerUnaryReactor* finish_unary(grpc::CallbackServerContext* ctx, grpc::Status st) {
  grpc::ServerUnaryReactor* r = ctx->DefaultReactor();
  r->Finish(std::move(st));
  return r;
}

LinkReader::LinkReader(grpc::CallbackServerContext* ctx, Accept accept)
    : peer_cn_(peer_common_name(*ctx)), accept_(std::move(accept)) {
  StartRead(&env_);
}

void LinkReader::OnReadDone(bool ok) {
  if (!ok) {  // the sender half-closed or is gone
    Finish(grpc::Status::OK);
    return;
  }
  grpc::Status st = accept_(peer_cn_, env_);
  if (!st.ok()) {
    Finish(st);
    return;
  }
  StartRead(&env_);
}

}  // namespace cascade
