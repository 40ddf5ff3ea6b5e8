#include "rpc/link_server.h"

#include "util/error.h"

namespace cascade {

void flow_control_args(const std::function<void(const char*, int)>& set) {
  set(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  set(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 8 << 20);
}

LinkLoop::LinkLoop(std::unique_ptr<grpc::ServerCompletionQueue> cq) : cq_(std::move(cq)) {
  thread_ = std::thread([this] {
    void* tag;
    bool ok;
    while (cq_->Next(&tag, &ok)) static_cast<Tag*>(tag)->proceed(ok);
  });
}

LinkLoop::~LinkLoop() { stop(); }

void LinkLoop::stop() {
  if (stopped_) return;
  stopped_ = true;
  cq_->Shutdown();
  thread_.join();
}

// One incoming Link stream: reads messages and hands each to `accept` until
// the sender half-closes (the stream ends OK) or `accept` refuses one (the
// stream ends with that status).
class LinkServer::LinkCall final : public LinkLoop::Tag {
 public:
  explicit LinkCall(LinkServer& s) : s_(s), stream_(&ctx_) {
    s_.service_.RequestLink(&ctx_, &stream_, s_.loop_->cq(), s_.loop_->cq(), this);
  }

  void proceed(bool ok) override {
    switch (state_) {
      case State::kWaiting:
        if (!ok) {  // the server is shutting down
          delete this;
          return;
        }
        if (!s_.shutting_down_) new LinkCall(s_);  // waits for the next stream
        peer_cn_ = peer_common_name(ctx_);  // cannot change within a stream
        state_ = State::kReading;
        stream_.Read(&bytes_, this);
        return;
      case State::kReading: {
        if (!ok) {  // the sender half-closed or is gone
          finish(grpc::Status::OK);
          return;
        }
        grpc::Status st = s_.handlers_.accept(peer_cn_, decode_link(bytes_));
        if (!st.ok()) {
          finish(std::move(st));
          return;
        }
        bytes_.Clear();
        stream_.Read(&bytes_, this);
        return;
      }
      case State::kFinishing:
        delete this;
        return;
    }
  }

 private:
  enum class State { kWaiting, kReading, kFinishing };
  void finish(grpc::Status st) {
    state_ = State::kFinishing;
    stream_.Finish(st, this);
  }

  LinkServer& s_;
  Live live_{s_};
  grpc::ServerContext ctx_;
  grpc::ServerAsyncReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer> stream_;
  State state_ = State::kWaiting;
  std::string peer_cn_;
  grpc::ByteBuffer bytes_;
};

// One unary RPC: waits for a call, answers it with `handle`, and puts the
// next one of its method in wait.
template <class Req, class Rep>
class LinkServer::UnaryCall final : public LinkLoop::Tag {
 public:
  using Request = std::function<void(grpc::ServerContext*, Req*, grpc::ServerAsyncResponseWriter<Rep>*,
                                     grpc::ServerCompletionQueue*, void*)>;
  using Handle = std::function<grpc::Status(const grpc::ServerContext&, const Req&, Rep*)>;

  UnaryCall(LinkServer& s, Request request, Handle handle)
      : s_(s), request_(std::move(request)), handle_(std::move(handle)), responder_(&ctx_) {
    request_(&ctx_, &req_, &responder_, s_.loop_->cq(), this);
  }

  void proceed(bool ok) override {
    if (answered_ || !ok) {
      delete this;
      return;
    }
    if (!s_.shutting_down_) new UnaryCall(s_, request_, handle_);
    answered_ = true;
    const grpc::Status st = handle_(ctx_, req_, &rep_);
    if (st.ok())
      responder_.Finish(rep_, st, this);
    else
      responder_.FinishWithError(st, this);
  }

 private:
  LinkServer& s_;
  Live live_{s_};
  Request request_;
  Handle handle_;
  grpc::ServerContext ctx_;
  Req req_;
  Rep rep_;
  grpc::ServerAsyncResponseWriter<Rep> responder_;
  bool answered_ = false;
};

LinkServer::LinkServer(const TlsIdentity& tls, const LinkOptions& link, const std::string& listen,
                       LinkHandlers handlers, const std::string& what)
    : handlers_(std::move(handlers)) {
  grpc::ServerBuilder b;
  b.AddListeningPort(listen, server_credentials(tls), &port_);
  b.SetMaxReceiveMessageSize(link.max_message_bytes);
  b.SetMaxSendMessageSize(link.max_message_bytes);
  // Accept the peers' keepalive pings (gRPC's default allows one per 5 min).
  b.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                       (int)std::min<long long>(link.keepalive_time.count(), 1000));
  b.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  flow_control_args([&](const char* key, int value) { b.AddChannelArgument(key, value); });
  b.RegisterService(&service_);
  auto cq = b.AddCompletionQueue();
  server_ = b.BuildAndStart();
  loop_ = std::make_unique<LinkLoop>(std::move(cq));
  if (!server_ || port_ == 0) {
    loop_->stop();
    throw Error(what + ": cannot listen on " + listen + " (address in use or invalid?)");
  }
  await_calls();
}

LinkServer::~LinkServer() { stop(); }

void LinkServer::await_calls() {
  Service* svc = &service_;
  new LinkCall(*this);
  new UnaryCall<wire::SessionSetup, wire::Ack>(
      *this,
      [svc](auto* ctx, auto* req, auto* w, auto* cq, void* tag) { svc->RequestOpenSession(ctx, req, w, cq, cq, tag); },
      [this](const grpc::ServerContext& ctx, const wire::SessionSetup& req, wire::Ack*) {
        return handlers_.open(ctx, req);
      });
  new UnaryCall<wire::SessionRef, wire::Ack>(
      *this,
      [svc](auto* ctx, auto* req, auto* w, auto* cq, void* tag) { svc->RequestCloseSession(ctx, req, w, cq, cq, tag); },
      [this](const grpc::ServerContext&, const wire::SessionRef& req, wire::Ack*) { return handlers_.close(req); });
  new UnaryCall<wire::HealthRequest, wire::HealthReply>(
      *this,
      [svc](auto* ctx, auto* req, auto* w, auto* cq, void* tag) { svc->RequestHealth(ctx, req, w, cq, cq, tag); },
      [this](const grpc::ServerContext&, const wire::HealthRequest&, wire::HealthReply* rep) {
        handlers_.health(rep);
        return grpc::Status::OK;
      });
}

LinkServer::Live::Live(LinkServer& s) : s(s) {
  std::lock_guard<std::mutex> lock(s.live_mu_);
  ++s.live_calls_;
}

LinkServer::Live::~Live() {
  std::lock_guard<std::mutex> lock(s.live_mu_);
  if (--s.live_calls_ == 0) s.live_cv_.notify_all();
}

void LinkServer::shutdown(std::chrono::milliseconds grace) {
  if (shutting_down_.exchange(true)) return;
  if (!server_) return;
  server_->Shutdown(std::chrono::system_clock::now() + grace);
  // Every call has been ended; wait until the loop has run (and deleted)
  // each of them, so no handler touches its owner after this.
  std::unique_lock<std::mutex> lock(live_mu_);
  live_cv_.wait(lock, [&] { return live_calls_ == 0; });
}

void LinkServer::stop() {
  shutdown(std::chrono::milliseconds(0));
  loop_->stop();
}

}  // namespace cascade
