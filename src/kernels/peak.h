// This machine's peaks, measured: what `cascade bench engine` sets the
// engine's prefill GFLOP/s and decode GB/s against.
#pragma once

#include <cstddef>
#include <string>

namespace cascade {

// A rate both per wall second and per second of this process's CPU time
// (util/host_counters.h: what other load on a shared host does not move).
struct Rate {
  double wall = 0, cpu = 0;
};

// Best of 3 timed OpenBLAS sgemm calls on n×n×n (after one warm-up), in
// GFLOP/s.
Rate measure_gemm_peak(int n = 1536);

// Best read bandwidth over a buffer of `bytes`, much larger than the caches,
// in GB/s: a pure read stream on every OpenMP thread (as the GEMV reads the
// weights), from huge pages (as Model::copy_weights_to_huge_pages leaves
// them). The bound a bandwidth-bound decode meets. Throws Error when the
// buffer cannot be had.
Rate measure_read_bandwidth(size_t bytes = (size_t)512 << 20);

// The kernels' paths, e.g. "avx2 (CASCADE_ISA=avx2); OpenBLAS core Haswell".
// OpenBLAS picks its core from the CPU model; on a CPU it does not know it
// falls back to pre-AVX kernels, which makes the sgemm peak several times
// too low: the string says so, and which OPENBLAS_CORETYPE to set.
std::string kernel_paths();

}  // namespace cascade
