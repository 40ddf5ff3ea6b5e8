// Batched candidate evaluator: layer-ℓ rows of many candidate tokens at one
// position, all behind the same known prefix.
//
// Vocab matching asks, at position i: "if token v followed this prefix, what
// would h_i^ℓ be?" for hundreds of v. Each candidate row attends to the
// prefix's keys (shared, already in an Engine's KV cache) plus its own key
// only, never to the other candidates. So per block we run, on all
// candidates at once: block_qkv; attention_partial over the prefix cache;
// the diagonal self term (lse = q·k/√hd per head, out = v: softmax over one
// key); attention_merge of the two; block_finish. This is the engine's own
// layer math (layer.h, kernels.h), just with a different key set per row.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/engine.h"
#include "engine/layer.h"

namespace cascade::attacks {

class CandidateRows {
 public:
  explicit CandidateRows(const Model& m);

  // rows[n][dim] = h^layer at position prefix.position() of each candidate
  // token, given the tokens already fed to `prefix` (its KV cache for blocks
  // 0..layer-1 must hold positions 0..position()-1). layer in [0, L].
  void evaluate(const Engine& prefix, const int32_t* candidates, int n, int layer, float* rows);

  // Candidate rows evaluated so far (the attacks' cost unit).
  int64_t rows_evaluated() const { return rows_evaluated_; }

 private:
  const Model& m_;
  std::vector<int32_t> pos_, cache_pos_;
  std::vector<float> q_, k_, v_, o_prefix_, lse_prefix_, o_self_, lse_self_, o_;
  RowScratch scratch_;
  int64_t rows_evaluated_ = 0;
};

// Token ids ordered by logits, largest first (ties: lower id first).
std::vector<int32_t> order_by_logits(const float* logits, int vocab_size);

// 0, 1, ..., vocab_size−1: the order an attacker without a prior uses.
std::vector<int32_t> order_by_id(int vocab_size);

}  // namespace cascade::attacks
