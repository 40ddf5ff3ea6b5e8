// tune_process — settings every Cascade process (CLI, node daemon, benches)
// makes once, first thing in main(), before any other thread exists.
#pragma once

namespace cascade {

// * Row buffers of a few MiB per block stay in the heap: past glibc's default
//   mmap threshold each one is a fresh mapping that the kernel must zero on
//   first touch (measured: 14 % of an in-process prefill).
// * gRPC's absl::Mutex skips deadlock detection, which Debian's absl (built
//   without NDEBUG) runs on every lock (measured: 3-6 % of a node's CPU in
//   decode).
void tune_process();

}  // namespace cascade
