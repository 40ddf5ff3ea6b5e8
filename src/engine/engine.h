// Engine — the plaintext transformer: every role local, one process.
//
// It is the reference every distributed run is compared with, and it is
// built only from layer.h and kernels.h: block_qkv on all new rows, one
// attention_partial of the new rows over the whole KV cache (a single
// partial needs no merge), block_finish. Cascade's roles call the same
// functions on their shards.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "engine/layer.h"
#include "model/model.h"

namespace cascade {

// Called with the residual rows h^ℓ (ℓ = 0 is the embedding, ℓ = L the last
// block's output) of the rows being processed, at positions pos0..pos0+n-1.
using HiddenObserver = std::function<void(int layer, const float* h, int n, int pos0)>;

class Engine;
struct BatchItem;
void forward_batch(const std::vector<BatchItem>& items);  // engine/batch.h

class Engine {
 public:
  explicit Engine(const Model& model);

  // Feeds `tokens` at the next n positions (continuing the KV cache).
  // Writes the logits of the last row to `logits_last` ([vocab], may be null)
  // and, if `logits_all` is non-null, of every row ([n][vocab]).
  // Throws Error if the context would overflow.
  void forward(const int32_t* tokens, int n, float* logits_last, float* logits_all = nullptr);

  // Runs blocks [l0, l1) on residual rows h[n][dim] at the next n positions,
  // in place, keeping those blocks' KV cache. forward() is embed +
  // run_layers(0, L) + final_logits. The Cascade client uses it for the
  // blocks and positions it keeps to itself.
  void run_layers(float* h, int n, int l0, int l1);

  // Keys and values of block l for positions [0, position()), [pos][kv_dim].
  const float* k_cache(int l) const { return k_cache_[l].data(); }
  const float* v_cache(int l) const { return v_cache_[l].data(); }

  // Forgets all positions (the KV cache is reused).
  void reset() { n_pos_ = 0; }
  // Drops positions >= n (for attacks that branch from a common prefix).
  void truncate(int n);
  int position() const { return n_pos_; }
  const Model& model() const { return model_; }

  void set_observer(HiddenObserver obs) { observer_ = std::move(obs); }

 private:
  friend void forward_batch(const std::vector<BatchItem>& items);
  void check_room(int n) const;  // Error unless n more positions fit the context
  void reserve_cache(int total, int l0, int l1);  // room for `total` positions in blocks [l0, l1)

  const Model& model_;
  int n_pos_ = 0;
  std::vector<std::vector<float>> k_cache_, v_cache_;  // per layer [context][kv_dim]
  std::vector<int32_t> cache_pos_;                     // [context]: 0, 1, 2, ...
  std::vector<float> h_, q_, o_, lse_;
  RowScratch scratch_;
  HiddenObserver observer_;
};

}  // namespace cascade
