#include "attacks/row_distance.h"

#include <algorithm>
#include <cmath>

namespace cascade::attacks {

float l1_distance(const float* a, const float* b, int d) {
  float s = 0;
  for (int j = 0; j < d; ++j) s += std::fabs(a[j] - b[j]);
  return s;
}

float cosine_distance(const float* a, const float* b, int d) {
  double ab = 0, aa = 0, bb = 0;
  for (int j = 0; j < d; ++j) {
    ab += (double)a[j] * b[j];
    aa += (double)a[j] * a[j];
    bb += (double)b[j] * b[j];
  }
  if (aa == 0 || bb == 0) return 1.0f;
  return (float)(1.0 - ab / std::sqrt(aa * bb));
}

void sort_each_row(float* rows, int n, int d) {
  for (int i = 0; i < n; ++i) std::sort(rows + (size_t)i * d, rows + (size_t)(i + 1) * d);
}

}  // namespace cascade::attacks
