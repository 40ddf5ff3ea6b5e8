#include "serve/admission.h"

namespace cascade {

std::unique_ptr<Admission::Slot> Admission::acquire() {
  MutexLock lock(mu_);
  const int ahead = (int)(next_ticket_ - serving_);  // tickets not yet running
  if (running_ >= parallel_ && ahead >= max_waiting_) return nullptr;
  const uint64_t ticket = next_ticket_++;
  lock.wait(cv_, [&]() REQUIRES(mu_) { return ticket == serving_ && running_ < parallel_; });
  ++serving_;
  ++running_;
  cv_.notify_all();  // the next ticket may run too
  return std::make_unique<Slot>(*this);
}

void Admission::release() {
  MutexLock lock(mu_);
  --running_;
  cv_.notify_all();
}

int Admission::running() const {
  MutexLock lock(mu_);
  return running_;
}

int Admission::waiting() const {
  MutexLock lock(mu_);
  return (int)(next_ticket_ - serving_);
}

}  // namespace cascade
