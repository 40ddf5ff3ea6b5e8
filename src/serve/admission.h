// Admission — at most `parallel` requests generate at once; up to
// `max_waiting` more wait in FIFO order; beyond that a request is turned
// away (the server answers 429).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>

#include "util/mutex.h"

namespace cascade {

class Admission {
 public:
  Admission(int parallel, int max_waiting) : parallel_(parallel), max_waiting_(max_waiting) {}

  // Held while a request generates; the destructor frees the slot.
  class Slot {
   public:
    explicit Slot(Admission& a) : a_(a) {}
    ~Slot() { a_.release(); }
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;

   private:
    Admission& a_;
  };

  // Waits for a slot, first come first served; null when the queue is full.
  std::unique_ptr<Slot> acquire();

  int running() const;
  int waiting() const;

 private:
  void release();

  const int parallel_, max_waiting_;
  mutable Mutex mu_;
  std::condition_variable cv_;
  int running_ GUARDED_BY(mu_) = 0;
  // Tickets in arrival order; serving_ is the next to run.
  uint64_t next_ticket_ GUARDED_BY(mu_) = 0, serving_ GUARDED_BY(mu_) = 0;
};

}  // namespace cascade
