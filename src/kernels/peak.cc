#include "kernels/peak.h"

#include <cblas.h>
#include <immintrin.h>
#include <omp.h>
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include "kernels/isa.h"
#include "util/error.h"
#include "util/host_counters.h"

namespace cascade {

namespace {

using clock_type = std::chrono::steady_clock;
double seconds_since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}

// Σ of n floats with independent vector accumulators: a pure read stream.
// AVX2 where the CPU has it, whatever the build's -march.
#if defined(__x86_64__)
__attribute__((target("avx2"))) float read_sum_avx2(const float* p, int64_t n) {
  int64_t i = 0;
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
  for (; i + 32 <= n; i += 32) {
    a0 = _mm256_add_ps(a0, _mm256_loadu_ps(p + i));
    a1 = _mm256_add_ps(a1, _mm256_loadu_ps(p + i + 8));
    a2 = _mm256_add_ps(a2, _mm256_loadu_ps(p + i + 16));
    a3 = _mm256_add_ps(a3, _mm256_loadu_ps(p + i + 24));
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  float s = 0;
  for (float l : lanes) s += l;
  for (; i < n; ++i) s += p[i];
  return s;
}
#endif

float read_sum(const float* p, int64_t n) {
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx2")) return read_sum_avx2(p, n);
#endif
  float s[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) s[j] += p[i + j];
  for (; i < n; ++i) s[0] += p[i];
  return s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
}

}  // namespace

Rate measure_gemm_peak(int n) {
  std::vector<float> a((size_t)n * n, 0.5f), b((size_t)n * n, 0.25f), c((size_t)n * n);
  Rate best;
  for (int r = 0; r < 4; ++r) {
    auto t = clock_type::now();
    const double cpu = process_cpu_seconds();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f,
                c.data(), n);
    if (r == 0) continue;
    best.wall = std::max(best.wall, 2.0 * n * n * n / seconds_since(t) / 1e9);
    best.cpu = std::max(best.cpu, 2.0 * n * n * n / (process_cpu_seconds() - cpu) / 1e9);
  }
  return best;
}

Rate measure_read_bandwidth(size_t bytes) {
  // Huge pages, as the weights get (Model::copy_weights_to_huge_pages).
  void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  check(mem != MAP_FAILED, "bench: cannot allocate the bandwidth probe's buffer");
  madvise(mem, bytes, MADV_HUGEPAGE);
  std::unique_ptr<void, std::function<void(void*)>> keep(mem, [bytes](void* m) { munmap(m, bytes); });
  float* buf_data = static_cast<float*>(mem);
  const int64_t n = (int64_t)(bytes / 4);
  std::fill(buf_data, buf_data + n, 1.0f);
  Rate best;
  volatile float sink = 0;
  for (int r = 0; r < 8; ++r) {
    auto t = clock_type::now();
    const double cpu = process_cpu_seconds();
    float total = 0;
#pragma omp parallel reduction(+ : total)
    {
      const int nt = omp_get_num_threads(), id = omp_get_thread_num();
      const int64_t b = n * id / nt, e = n * (id + 1) / nt;
      total += read_sum(buf_data + b, e - b);
    }
    sink = total;
    if (r == 0) continue;
    best.wall = std::max(best.wall, bytes / seconds_since(t) / 1e9);
    best.cpu = std::max(best.cpu, bytes / (process_cpu_seconds() - cpu) / 1e9);
  }
  (void)sink;
  return best;
}

std::string kernel_paths() {
  const std::string core = openblas_get_corename();
  std::string s = std::string(isa_name(active_isa())) + " (" + isa_reason() + "); OpenBLAS core " + core;
  for (const char* old : {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "Sandybridge"})
    if (core == old && isa_supported(Isa::kAvx2))
      s += std::string(" -- not this CPU's: set OPENBLAS_CORETYPE=") +
           (isa_supported(Isa::kAvx512) ? "SkylakeX" : "Haswell") + " for its real peak";
  return s;
}

}  // namespace cascade
