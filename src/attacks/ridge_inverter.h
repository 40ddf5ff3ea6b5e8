// Learned inverter (protocol §2 (c)): a linear map from a layer-ℓ row to a
// token, fitted by ridge regression onto one-hot targets.
//
//   W = (XᵀX + λ·I)⁻¹ XᵀY,   X = [rows | 1],  Y = one-hot(token)
//   predict(row) = argmax_v ([row | 1]·W)_v
//
// Closed form, solved with a Cholesky factorisation in double precision
// (the system is (dim+1)×(dim+1)). The bias column is not regularised.
// λ = lambda_rel · trace(XᵀX)/(dim+1), so it scales with the rows' size.
#pragma once

#include <cstdint>
#include <vector>

#include "model/model.h"

namespace cascade::attacks {

// Rows of `layer` and their tokens for every prompt, skipping the first
// `skip_first` positions of each (BOS is not private). X [n][dim], y [n].
struct RowDataset {
  int dim = 0;
  std::vector<float> X;
  std::vector<int32_t> y;
  int size() const { return (int)y.size(); }
};
RowDataset collect_rows(const Model& m, const std::vector<std::vector<int32_t>>& prompts, int layer,
                        int skip_first = 1);

class RidgeInverter {
 public:
  // Throws Error when the data set is empty or the system is not positive definite.
  static RidgeInverter train(const RowDataset& data, int vocab_size, double lambda_rel = 1e-3);

  int32_t predict(const float* row) const;
  double accuracy(const RowDataset& data) const;

 private:
  int dim_ = 0, vocab_ = 0;
  std::vector<double> W_;  // [(dim+1)][vocab]
};

// Accuracy of always answering the most frequent training token: the
// baseline "chance" a learned inverter must beat.
double majority_baseline(const RowDataset& train, const RowDataset& test, int vocab_size);

}  // namespace cascade::attacks
