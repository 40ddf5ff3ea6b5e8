// tune_process — settings every Cascade process (CLI, node daemon, benches)
// makes once, first thing in main(), before any other thread exists.
#pragma once

namespace cascade {

// * Row buffers of a few MiB per block stay in the heap: past glibc's default
//   mmap threshold each one is a fresh mapping that the kernel must zero on
//   first touch, on every step.
// * gRPC's absl::Mutex skips deadlock detection, which Debian's absl (built
//   without NDEBUG) runs on every lock.
// What each costs: docs/results/code_figures.md.
void tune_process();

}  // namespace cascade
