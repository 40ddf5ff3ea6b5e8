// Candidate tokens traced through every block: the residual rows and the
// q, k, v rows a candidate token would have at the next position behind a
// known prefix.
//
// The attacks on what nodes receive compare these with received rows: a
// CompNode's partials hold k, v of earlier positions at every block; an
// AttnNode gets q or k, v rows at every block. Each candidate attends to the
// prefix's KV cache plus its own key only (as CandidateRows), with the
// engine's own layer math (layer.h, kernels.h).
#pragma once

#include <cstdint>
#include <vector>

#include "engine/engine.h"

namespace cascade::attacks {

class CandidateQkv {
 public:
  explicit CandidateQkv(const Model& m);

  // Traces n candidate tokens at position prefix.position() through blocks
  // [0, n_blocks) (n_blocks <= 0: every block). The prefix's KV cache must
  // hold positions 0..position()-1 for those blocks.
  void evaluate(const Engine& prefix, const int32_t* candidates, int n, int n_blocks = 0);

  // Rows of the last evaluate(), for block l < n_blocks: q [n][q_dim],
  // k and v [n][kv_dim] (after RoPE, as the block computes them), and
  // h(l) [n][dim], the residual input of block l (h(n_blocks): the output).
  const float* q(int l) const { return q_[l].data(); }
  const float* k(int l) const { return k_[l].data(); }
  const float* v(int l) const { return v_[l].data(); }
  const float* h(int l) const { return h_[l].data(); }

  int64_t rows_evaluated() const { return rows_evaluated_; }

 private:
  const Model& m_;
  std::vector<int32_t> pos_, cache_pos_;
  std::vector<std::vector<float>> q_, k_, v_, h_;  // per block
  std::vector<float> o_prefix_, lse_prefix_, o_self_, lse_self_, o_;
  RowScratch scratch_;
  int64_t rows_evaluated_ = 0;
};

}  // namespace cascade::attacks
