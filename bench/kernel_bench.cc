// Microbenchmarks of the kernels that dominate time (Google Benchmark):
// the decode GEMV (bandwidth-bound), the prefill GEMM, and partial attention.
// The kernels run on the ISA path kernels/isa.h picks (CASCADE_ISA forces
// one; OPENBLAS_CORETYPE=Haswell makes OpenBLAS use its AVX2 kernels too);
// both are printed in the context header.
#include <benchmark/benchmark.h>

#include <cblas.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "kernels/isa.h"
#include "kernels/kernels.h"

namespace {

std::vector<float> filled(size_t n) {
  std::vector<float> v(n);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> d(-1, 1);
  for (auto& x : v) x = d(rng);
  return v;
}

// One row times W[out][in]: reports bytes of W streamed per second.
void BM_Gemv(benchmark::State& st) {
  const int in = (int)st.range(0), out = (int)st.range(1);
  auto W = filled((size_t)in * out), x = filled(in);
  std::vector<float> y(out);
  for (auto _ : st) {
    cascade::matmul(y.data(), x.data(), W.data(), nullptr, 1, in, out);
    benchmark::DoNotOptimize(y.data());
  }
  st.SetBytesProcessed((int64_t)st.iterations() * in * out * 4);
}
BENCHMARK(BM_Gemv)->Args({768, 2048})->Args({2048, 768})->Args({768, 32000})->UseRealTime();

void BM_Gemm(benchmark::State& st) {
  const int n = (int)st.range(0), in = 768, out = 2048;
  auto W = filled((size_t)in * out), x = filled((size_t)n * in);
  std::vector<float> y((size_t)n * out);
  for (auto _ : st) {
    cascade::matmul(y.data(), x.data(), W.data(), nullptr, n, in, out);
    benchmark::DoNotOptimize(y.data());
  }
  st.counters["GFLOP/s"] = benchmark::Counter(2.0 * n * in * out * st.iterations() / 1e9,
                                              benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Gemm)->Arg(64)->Arg(512)->UseRealTime();

// The prefill GEMM on n rows, in -> out: matmul over W packed in panels
// (what the engine and the CompNodes use) against OpenBLAS sgemm, which packs
// W on every call (last arg 1). Sixteen weight matrices in turn, so W is not
// cache-resident, as in a model. Run with OMP_NUM_THREADS=1 for one core.
void BM_GemmPanels(benchmark::State& st) {
  const int n = (int)st.range(0), in = (int)st.range(1), out = (int)st.range(2), n_w = 16;
  const bool openblas = st.range(3) == 1;
  auto W = filled((size_t)n_w * in * out), x = filled((size_t)n * in);
  std::vector<float> panels(W.size()), y((size_t)n * out);
  for (int w = 0; w < n_w; ++w)
    cascade::pack_panels(panels.data() + (size_t)w * in * out, W.data() + (size_t)w * in * out, out, in);
  int w = 0;
  for (auto _ : st) {
    const size_t off = (size_t)(w++ % n_w) * in * out;
    if (openblas)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, x.data(), in, W.data() + off, in, 0.0f,
                  y.data(), out);
    else
      cascade::matmul(y.data(), x.data(), W.data() + off, nullptr, n, in, out, panels.data() + off);
    benchmark::DoNotOptimize(y.data());
  }
  st.counters["GFLOP/s"] = benchmark::Counter(2.0 * n * in * out * st.iterations() / 1e9,
                                              benchmark::Counter::kIsRate);
}
BENCHMARK(BM_GemmPanels)
    ->Args({64, 768, 768, 0})->Args({64, 768, 768, 1})
    ->Args({64, 768, 2048, 0})->Args({64, 768, 2048, 1})
    ->Args({64, 2048, 768, 0})->Args({64, 2048, 768, 1})
    ->Args({512, 768, 768, 0})->Args({512, 768, 768, 1})
    ->UseRealTime();

void BM_AttentionPrefill(benchmark::State& st) {
  const int n = (int)st.range(0), H = 12, Hkv = 4, hd = 64;
  auto q = filled((size_t)n * H * hd), k = filled((size_t)n * Hkv * hd), v = filled((size_t)n * Hkv * hd);
  std::vector<int32_t> pos(n);
  for (int i = 0; i < n; ++i) pos[i] = i;
  std::vector<float> o((size_t)n * H * hd), lse((size_t)n * H);
  for (auto _ : st) {
    cascade::attention_partial(o.data(), lse.data(), q.data(), pos.data(), n, k.data(), v.data(), pos.data(),
                               n, H, Hkv, hd);
    benchmark::DoNotOptimize(o.data());
  }
  // Causal: about n²/2 query-key pairs, 4 FLOPs per pair per head dim.
  st.counters["GFLOP/s"] = benchmark::Counter(4.0 * n * (n + 1) / 2 * H * hd * st.iterations() / 1e9,
                                              benchmark::Counter::kIsRate);
}
BENCHMARK(BM_AttentionPrefill)->Arg(512)->UseRealTime();

// One AttnNode's share of a 512-token prefill with β = 8: 64 queries over 64
// keys of interleaved positions. Arg 1: queries passed in chunks of that size
// (< 16 takes the per-query loop, otherwise the GEMM path).
void BM_AttentionShard(benchmark::State& st) {
  const int n = 64, chunk = (int)st.range(0), H = 12, Hkv = 4, hd = 64;
  auto q = filled((size_t)n * H * hd), k = filled((size_t)n * Hkv * hd), v = filled((size_t)n * Hkv * hd);
  std::vector<int32_t> qpos(n), kpos(n);
  for (int i = 0; i < n; ++i) qpos[i] = 3 * i, kpos[i] = 3 * i + 1;
  std::vector<float> o((size_t)n * H * hd), lse((size_t)n * H);
  for (auto _ : st) {
    for (int t = 0; t < n; t += chunk)
      cascade::attention_partial(o.data() + (size_t)t * H * hd, lse.data() + (size_t)t * H, q.data() + (size_t)t * H * hd,
                                 qpos.data() + t, chunk, k.data(), v.data(), kpos.data(), n, H, Hkv, hd);
    benchmark::DoNotOptimize(o.data());
  }
}
BENCHMARK(BM_AttentionShard)->Arg(8)->Arg(64)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  try {
    benchmark::AddCustomContext("kernels", std::string(cascade::isa_name(cascade::active_isa())) + " (" +
                                               cascade::isa_reason() + ")");
  } catch (const std::exception& e) {
    fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  benchmark::AddCustomContext("openblas", openblas_get_corename());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
