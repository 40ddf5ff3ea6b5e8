// Inbox — a message queue served by one thread.
//
// Roles are single-threaded state machines, and an RPC handler must return
// its Ack at once, so a handler only pushes here and this thread calls the
// role. Messages are handled in arrival order.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "nodes/message.h"

namespace cascade {

class Inbox {
 public:
  using Handler = std::function<void(Message&)>;
  // Starts the thread; `handle` runs on it for every pushed message.
  explicit Inbox(Handler handle);
  // Drops whatever is still queued and joins the thread. Must not run on
  // that thread.
  ~Inbox();
  Inbox(const Inbox&) = delete;
  Inbox& operator=(const Inbox&) = delete;

  void push(Message m);
  // Messages queued and not yet handled.
  size_t size() const;

 private:
  void run();

  Handler handle_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Message> queue_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts after the fields it uses exist
};

}  // namespace cascade
