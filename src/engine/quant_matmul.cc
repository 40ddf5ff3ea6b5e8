#include "engine/quant_matmul.h"

#include <vector>

#include "kernels/kernels.h"
#include "model/gguf.h"

namespace cascade {
namespace {

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
#pragma omp parallel num_threads(kernel_threads())
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
