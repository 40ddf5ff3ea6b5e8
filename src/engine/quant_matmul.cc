#include "engine/quant_matmul.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/kernels.h"
#include "model/gguf.h"

namespace cascade {
namespace {

constexpr int kGemmRows = 8;  // from this many rows on, dequantize tiles and use the GEMM
constexpr int kTile = 256;    // weight rows per tile (a multiple of kPanel)

// Sum of a[i]·b[i] in 16 interleaved partial sums (which the compiler maps
// to vector lanes without reassociating), then added lane by lane.
float dot(const float* a, const float* b, int n) {
  constexpr int kLanes = 16;
  float acc[kLanes] = {};
  int i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] += a[i + l] * b[i + l];
  for (int l = 0; i < n; ++i, ++l) acc[l] += a[i] * b[i];
  float s = 0.0f;
  for (int l = 0; l < kLanes; ++l) s += acc[l];
  return s;
}

}  // namespace

void quant_row(const QuantMatrix& W, int64_t r, int in, float* dst) {
  dequantize(static_cast<GgmlType>(W.type), W.row(r), static_cast<uint64_t>(in), dst);
}

void quant_matmul(float* y, const float* x, const QuantMatrix& W, const float* bias, int n, int in, int out) {
  if (n >= kGemmRows) {
    // Prefill: dequantize kTile weight rows at a time into fp32, pack them
    // and use the panel GEMM, which sums each output in the same order for
    // any n >= 2 (a last tile that is not a whole number of panels goes to
    // the unpacked GEMM).
    static thread_local std::vector<float> w, packed, yt;
    const int tile = std::min(kTile, out);
    w.resize((size_t)tile * in);
    packed.resize((size_t)tile * in);
    yt.resize((size_t)n * tile);
    for (int o0 = 0; o0 < out; o0 += tile) {
      const int t = std::min(tile, out - o0);
      // The pool's threads have thread_local buffers of their own: hand them
      // this thread's.
      float* const wt = w.data();
#pragma omp parallel for schedule(static)
      for (int r = 0; r < t; ++r) quant_row(W, o0 + r, in, wt + (size_t)r * in);
      const bool pack = t % kPanel == 0;
      if (pack) pack_panels(packed.data(), w.data(), t, in);
      matmul(yt.data(), x, w.data(), bias ? bias + o0 : nullptr, n, in, t, pack ? packed.data() : nullptr);
      for (int i = 0; i < n; ++i) std::memcpy(y + (size_t)i * out + o0, yt.data() + (size_t)i * t, t * sizeof(float));
    }
    return;
  }
#pragma omp parallel
  {
    std::vector<float> row(in);
#pragma omp for schedule(static)
    for (int r = 0; r < out; ++r) {
      quant_row(W, r, in, row.data());
      const float b = bias ? bias[r] : 0.0f;
      for (int i = 0; i < n; ++i) y[(int64_t)i * out + r] = dot(row.data(), x + (int64_t)i * in, in) + b;
    }
  }
}

}  // namespace cascade
