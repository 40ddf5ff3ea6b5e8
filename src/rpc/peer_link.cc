#include "rpc/peer_link.h"

#include <deque>

#include "rpc/wire.h"

namespace cascade {

namespace {
// wire::Node's Link, called with bytes (the generated stub would serialize
// through protobuf, copying every array twice).
const std::string kLinkMethod = "/cascade.wire.Node/Link";
}  // namespace

PeerChannels::PeerChannels(std::shared_ptr<grpc::ChannelCredentials> creds, LinkOptions opts)
    : creds_(std::move(creds)), opts_(opts) {}

PeerChannels::Stubs& PeerChannels::stubs(const std::string& address) {
  auto& s = stubs_[address];
  if (!s.typed) {
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
    flow_control_args([&](const char* key, int value) { args.SetInt(key, value); });
    s.channel = grpc::CreateCustomChannel(address, creds_, args);
    s.typed = wire::Node::NewStub(s.channel);
    s.link = std::make_unique<grpc::GenericStub>(s.channel);
  }
  return s;
}

wire::Node::Stub& PeerChannels::stub(const std::string& address) {
  MutexLock lock(mu_);
  return *stubs(address).typed;
}

grpc::GenericStub& PeerChannels::link_stub(const std::string& address) {
  MutexLock lock(mu_);
  return *stubs(address).link;
}

void PeerChannels::connect_soon(const std::string& address) {
  MutexLock lock(mu_);
  stubs(address).channel->GetState(/*try_to_connect=*/true);
}

void PeerChannels::forget(const std::string& address) {
  MutexLock lock(mu_);
  stubs_.erase(address);
}

int PeerChannels::size() {
  MutexLock lock(mu_);
  return (int)stubs_.size();
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
    case grpc::StatusCode::RESOURCE_EXHAUSTED:  // a node's limit: its own words name it
      if (f.status.error_message().rfind(who + " ", 0) == 0) return f.status.error_message() + by;
      return who + " refused the message: " + f.status.error_message() + by;
    default:
      return who + " refused the message: " + f.status.error_message() + by;
  }
}

// One outgoing Link stream; every operation completes on the loop thread.
// Writes go one at a time (gRPC allows one outstanding write): write()
// starts one when none is in flight, the write's completion starts the
// next. A read stays pending for the stream's life; it completes only when
// the receiver ends the stream (it never writes), which is how a refusal is
// noticed at once; then Finish collects the status. The stream is done —
// and may be destroyed — once Finish and every other operation completed.
class PeerLinks::Stream {
 public:
  Stream(PeerLinks& owner, NodeId to, std::string address)
      : owner_(owner), to_(to), address_(std::move(address)) {
    rw_ = owner_.channels_.link_stub(address_).PrepareCall(&ctx_, kLinkMethod, owner_.loop_.cq());
    // StartCall sends the headers on the write operation: the first
    // write waits for it.
    ops_ = 2;
    writing_ = true;
    rw_->StartCall(&started_);
    rw_->Read(&ack_, &read_done_);
  }

  void write(grpc::ByteBuffer bytes) {
    MutexLock lock(mu_);
    if (closing_ || broken_) return;  // the end is (or will be) reported
    queue_.push_back(std::move(bytes));
    if (!writing_) write_front();
  }

  // Half-closes once the queue has drained.
  void close() {
    MutexLock lock(mu_);
    closing_ = true;
    half_close_if_idle();
  }

  // Waits until done or `deadline`; then cancels and waits for it.
  void wait_done(std::chrono::steady_clock::time_point deadline) {
    MutexLock lock(mu_);
    if (lock.wait_until(done_cv_, deadline, [&]() REQUIRES(mu_) { return done(); })) return;
    lock.unlock();
    ctx_.TryCancel();
    lock.lock();
    lock.wait(done_cv_, [&]() REQUIRES(mu_) { return done(); });
  }

 private:
  void on_started(bool ok) { write_slot_free(ok, false); }
  void on_write_done(bool ok) { write_slot_free(ok, true); }

  // The call's one write operation completed (the headers, or the front
  // message when `pop`): start the next write, or half-close once closing.
  void write_slot_free(bool ok, bool pop) {
    {
      MutexLock lock(mu_);
      if (pop) queue_.pop_front();
      writing_ = false;
      if (!ok) broken_ = true;
      if (broken_) {
        queue_.clear();
      } else if (!queue_.empty()) {
        write_front();
      } else {
        half_close_if_idle();
      }
    }
    end_op();
  }

  // The receiver ended the stream: refused, shut down, gone, or answering
  // our half-close. Collect the status.
  void on_read_done(bool) {
    {
      MutexLock lock(mu_);
      broken_ = true;  // the write in flight, if any, clears the queue
      ++ops_;
      rw_->Finish(&status_, &finished_);
    }
    end_op();
  }

  void on_finished(bool) {
    bool asked_to_close;
    {
      MutexLock lock(mu_);
      asked_to_close = closing_;
    }
    if (!asked_to_close) {
      // An end we did not ask for is a failure even when the peer calls it OK.
      owner_.report({to_, address_,
                     status_.ok() ? grpc::Status(grpc::StatusCode::UNAVAILABLE, "the peer ended the link") : status_});
    }
    MutexLock lock(mu_);
    finished_done_ = true;
    end_op_locked();
  }

  void on_writes_done(bool) { end_op(); }

  void write_front() REQUIRES(mu_) {
    writing_ = true;
    ++ops_;
    rw_->Write(queue_.front(), &write_done_);
  }
  void half_close_if_idle() REQUIRES(mu_) {
    if (!closing_ || writing_ || broken_ || half_closed_) return;
    half_closed_ = true;
    ++ops_;
    rw_->WritesDone(&writes_done_);
  }
  bool done() const REQUIRES(mu_) { return finished_done_ && ops_ == 0; }
  void end_op() EXCLUDES(mu_) {
    MutexLock lock(mu_);
    end_op_locked();
  }
  void end_op_locked() REQUIRES(mu_) {
    if (--ops_ == 0 && finished_done_) done_cv_.notify_all();
  }

  PeerLinks& owner_;
  const NodeId to_;
  const std::string address_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> rw_;
  MemberTag<Stream> started_{this, &Stream::on_started};
  MemberTag<Stream> write_done_{this, &Stream::on_write_done};
  MemberTag<Stream> read_done_{this, &Stream::on_read_done};
  MemberTag<Stream> writes_done_{this, &Stream::on_writes_done};
  MemberTag<Stream> finished_{this, &Stream::on_finished};
  grpc::ByteBuffer ack_;
  grpc::Status status_;
  Mutex mu_;
  std::condition_variable done_cv_;
  // front: the write in flight, once the headers went
  std::deque<grpc::ByteBuffer> queue_ GUARDED_BY(mu_);
  int ops_ GUARDED_BY(mu_) = 0;  // operations started and not completed
  bool writing_ GUARDED_BY(mu_) = false, closing_ GUARDED_BY(mu_) = false, broken_ GUARDED_BY(mu_) = false,
                                 half_closed_ GUARDED_BY(mu_) = false, finished_done_ GUARDED_BY(mu_) = false;
};

PeerLinks::PeerLinks(PeerChannels& channels, LinkLoop& loop, const AddressBook& book, FailureHandler on_failure)
    : channels_(channels), loop_(loop), book_(book), on_failure_(std::move(on_failure)) {}

PeerLinks::~PeerLinks() { close(); }

void PeerLinks::send(Message m) {
  Stream* stream = nullptr;
  {
    MutexLock lock(mu_);
    if (closed_) return;
    auto& slot = streams_[m.to];
    if (!slot) {
      auto it = book_.find(m.to);
      if (it != book_.end()) {
        slot = std::make_unique<Stream>(*this, m.to, it->second);
      }
    }
    stream = slot.get();
  }
  if (!stream) {
    report({m.to, "?", grpc::Status(grpc::StatusCode::NOT_FOUND, "no address for it in the session")});
    return;
  }
  stream->write(encode_link(std::move(m)));
}

void PeerLinks::close(std::chrono::milliseconds grace) {
  std::vector<Stream*> open;
  {
    MutexLock lock(mu_);
    if (closed_) return;
    closed_ = true;
    for (auto& [to, s] : streams_)
      if (s) open.push_back(s.get());
  }
  for (Stream* s : open) s->close();
  const auto deadline = std::chrono::steady_clock::now() + grace;
  for (Stream* s : open) s->wait_done(deadline);
  MutexLock lock(mu_);
  streams_.clear();
}

void PeerLinks::report(const SendFailure& f) {
  {
    MutexLock lock(mu_);
    if (closed_ || reported_) return;
    reported_ = true;
  }
  on_failure_(f);
}

}  // namespace cascade
