#include "util/process_tuning.h"

#include <malloc.h>

#include <absl/synchronization/mutex.h>

namespace cascade {

void tune_process() {
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

}  // namespace cascade
