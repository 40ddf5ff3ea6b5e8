#include "net/inbox.h"

namespace cascade {

Inbox::Inbox(Handler handle) : handle_(std::move(handle)), thread_([this] { run(); }) {}

Inbox::~Inbox() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    queue_.clear();
  }
  cv_.notify_all();
  thread_.join();
}

void Inbox::push(Message m) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    queue_.push_back(std::move(m));
  }
  cv_.notify_one();
}

size_t Inbox::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

void Inbox::run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    Message m = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    handle_(m);
    lock.lock();
  }
}

}  // namespace cascade
