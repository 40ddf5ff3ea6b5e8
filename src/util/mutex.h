// std::mutex with clang's thread-safety annotations (util/thread_annotations.h),
// so that members can be declared GUARDED_BY it and the compiler checks
// every access. A plain std::mutex underneath: ThreadSanitizer sees it, and
// std::condition_variable works through MutexLock::wait.
//
//   Mutex mu_;
//   std::condition_variable cv_;
//   bool ready_ GUARDED_BY(mu_) = false;
//   ...
//   MutexLock lock(mu_);
//   lock.wait(cv_, [&]() REQUIRES(mu_) { return ready_; });
//
// A predicate lambda reads guarded members, so it is annotated REQUIRES(mu_):
// the analysis checks a lambda's body as a function of its own.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "util/thread_annotations.h"

namespace cascade {

class CAPABILITY("mutex") Mutex {
 public:
  void lock() ACQUIRE() { mu_.lock(); }
  void unlock() RELEASE() { mu_.unlock(); }

 private:
  friend class MutexLock;
  std::mutex mu_;
};

// Holds a Mutex from construction to destruction, like std::unique_lock:
// it may let go early (unlock) and take it again (lock), and it waits on
// condition variables, which releases the mutex for the wait.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) ACQUIRE(mu) : lock_(mu.mu_) {}
  ~MutexLock() RELEASE() {}
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  void unlock() RELEASE() { lock_.unlock(); }
  void lock() ACQUIRE() { lock_.lock(); }

  // std::condition_variable's waits, with this lock's mutex.
  template <class Pred>
  void wait(std::condition_variable& cv, Pred pred) {
    cv.wait(lock_, std::move(pred));
  }
  template <class Rep, class Period, class Pred>
  bool wait_for(std::condition_variable& cv, const std::chrono::duration<Rep, Period>& d, Pred pred) {
    return cv.wait_for(lock_, d, std::move(pred));
  }
  template <class Clock, class Duration>
  std::cv_status wait_until(std::condition_variable& cv, const std::chrono::time_point<Clock, Duration>& t) {
    return cv.wait_until(lock_, t);
  }
  template <class Clock, class Duration, class Pred>
  bool wait_until(std::condition_variable& cv, const std::chrono::time_point<Clock, Duration>& t, Pred pred) {
    return cv.wait_until(lock_, t, std::move(pred));
  }

 private:
  std::unique_lock<std::mutex> lock_;
};

}  // namespace cascade
