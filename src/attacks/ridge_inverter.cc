#include "attacks/ridge_inverter.h"

#include <algorithm>
#include <cmath>

#include "attacks/hidden_states.h"
#include "util/error.h"

namespace cascade::attacks {

RowDataset collect_rows(const Model& m, const std::vector<std::vector<int32_t>>& prompts, int layer,
                        int skip_first) {
  RowDataset d;
  d.dim = m.cfg.dim;
  for (const auto& p : prompts) {
    HiddenStates hs = capture_hidden_states(m, p);
    for (int i = skip_first; i < hs.n_pos; ++i) {
      const float* r = hs.row(layer, i);
      d.X.insert(d.X.end(), r, r + d.dim);
      d.y.push_back(p[i]);
    }
  }
  return d;
}

RidgeInverter RidgeInverter::train(const RowDataset& data, int vocab_size, double lambda_rel) {
  check(data.size() > 0, "ridge inverter: empty training set");
  const int D = data.dim + 1, V = vocab_size;
  std::vector<double> A((size_t)D * D, 0.0), B((size_t)D * V, 0.0), x(D);
  for (int s = 0; s < data.size(); ++s) {
    for (int j = 0; j < data.dim; ++j) x[j] = data.X[(size_t)s * data.dim + j];
    x[D - 1] = 1.0;
    for (int a = 0; a < D; ++a) {
      for (int b = 0; b <= a; ++b) A[(size_t)a * D + b] += x[a] * x[b];
      B[(size_t)a * V + data.y[s]] += x[a];
    }
  }
  double trace = 0;
  for (int a = 0; a < D; ++a) trace += A[(size_t)a * D + a];
  const double lambda = lambda_rel * trace / D;
  for (int a = 0; a < D - 1; ++a) A[(size_t)a * D + a] += lambda;
  // Cholesky A = L·Lᵀ in the lower triangle.
  for (int j = 0; j < D; ++j) {
    double s = A[(size_t)j * D + j];
    for (int k = 0; k < j; ++k) s -= A[(size_t)j * D + k] * A[(size_t)j * D + k];
    check(s > 0, "ridge inverter: normal equations are not positive definite (raise lambda)");
    const double ljj = std::sqrt(s);
    A[(size_t)j * D + j] = ljj;
    for (int i = j + 1; i < D; ++i) {
      double t = A[(size_t)i * D + j];
      for (int k = 0; k < j; ++k) t -= A[(size_t)i * D + k] * A[(size_t)j * D + k];
      A[(size_t)i * D + j] = t / ljj;
    }
  }
  // Solve L·Z = B, then Lᵀ·W = Z, column by column (all columns at once).
  for (int i = 0; i < D; ++i) {
    for (int k = 0; k < i; ++k)
      for (int v = 0; v < V; ++v) B[(size_t)i * V + v] -= A[(size_t)i * D + k] * B[(size_t)k * V + v];
    for (int v = 0; v < V; ++v) B[(size_t)i * V + v] /= A[(size_t)i * D + i];
  }
  for (int i = D - 1; i >= 0; --i) {
    for (int k = i + 1; k < D; ++k)
      for (int v = 0; v < V; ++v) B[(size_t)i * V + v] -= A[(size_t)k * D + i] * B[(size_t)k * V + v];
    for (int v = 0; v < V; ++v) B[(size_t)i * V + v] /= A[(size_t)i * D + i];
  }
  RidgeInverter r;
  r.dim_ = data.dim;
  r.vocab_ = V;
  r.W_ = std::move(B);
  return r;
}

int32_t RidgeInverter::predict(const float* row) const {
  std::vector<double> score(W_.end() - vocab_, W_.end());  // bias row
  for (int j = 0; j < dim_; ++j) {
    const double xj = row[j];
    const double* w = W_.data() + (size_t)j * vocab_;
    for (int v = 0; v < vocab_; ++v) score[v] += xj * w[v];
  }
  return (int32_t)(std::max_element(score.begin(), score.end()) - score.begin());
}

double RidgeInverter::accuracy(const RowDataset& data) const {
  if (data.size() == 0) return 0.0;
  int ok = 0;
  for (int s = 0; s < data.size(); ++s) ok += predict(data.X.data() + (size_t)s * dim_) == data.y[s];
  return (double)ok / data.size();
}

double majority_baseline(const RowDataset& train, const RowDataset& test, int vocab_size) {
  if (test.size() == 0 || train.size() == 0) return 0.0;
  std::vector<int> count(vocab_size, 0);
  for (int32_t t : train.y) ++count[t];
  const int32_t top = (int32_t)(std::max_element(count.begin(), count.end()) - count.begin());
  return (double)std::count(test.y.begin(), test.y.end(), top) / test.size();
}

}  // namespace cascade::attacks
