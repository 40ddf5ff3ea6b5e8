#include "engine/batch.h"

#include <algorithm>
#include <cstring>

#include "kernels/kernels.h"
#include "util/error.h"

namespace cascade {

void forward_batch(const std::vector<BatchItem>& items) {
  if (items.empty()) return;
  const Model& m = items[0].engine->model();
  const auto& c = m.cfg;
  std::vector<int> off(items.size() + 1, 0);  // first row of each item
  for (size_t i = 0; i < items.size(); ++i) {
    const BatchItem& it = items[i];
    check(&it.engine->model() == &m, "forward_batch: every session must run the same model");
    check(it.n >= 1, "forward_batch: a session in a step needs at least one token");
    for (size_t j = 0; j < i; ++j) check(items[j].engine != it.engine, "forward_batch: a session appears twice");
    it.engine->check_room(it.n);
    off[i + 1] = off[i] + it.n;
  }
  const int rows = off.back(), kv = c.kv_dim(), qd = c.q_dim();
  std::vector<int32_t> tokens(rows), pos(rows);
  for (size_t i = 0; i < items.size(); ++i) {
    Engine& e = *items[i].engine;
    std::copy(items[i].tokens, items[i].tokens + items[i].n, tokens.begin() + off[i]);
    std::copy(e.cache_pos_.begin() + e.n_pos_, e.cache_pos_.begin() + e.n_pos_ + items[i].n, pos.begin() + off[i]);
  }
  std::vector<float> h((size_t)rows * c.dim), q((size_t)rows * qd), k((size_t)rows * kv), v((size_t)rows * kv),
      o((size_t)rows * qd), lse((size_t)rows * c.n_heads);
  embed_rows(m, tokens.data(), pos.data(), rows, h.data());  // checks tokens before any cache changes
  for (const BatchItem& it : items) it.engine->reserve_cache(it.engine->n_pos_ + it.n, 0, c.n_layers);
  RowScratch& s = items[0].engine->scratch_;
  for (int l = 0; l < c.n_layers; ++l) {
    block_qkv(m, l, h.data(), pos.data(), rows, q.data(), k.data(), v.data(), s);
    for (size_t i = 0; i < items.size(); ++i) {
      Engine& e = *items[i].engine;
      const int n = items[i].n, r0 = off[i];
      float* kc = e.k_cache_[l].data();
      float* vc = e.v_cache_[l].data();
      std::memcpy(kc + (size_t)e.n_pos_ * kv, k.data() + (size_t)r0 * kv, (size_t)n * kv * sizeof(float));
      std::memcpy(vc + (size_t)e.n_pos_ * kv, v.data() + (size_t)r0 * kv, (size_t)n * kv * sizeof(float));
      attention_partial(o.data() + (size_t)r0 * qd, lse.data() + (size_t)r0 * c.n_heads, q.data() + (size_t)r0 * qd,
                        pos.data() + r0, n, kc, vc, e.cache_pos_.data(), e.n_pos_ + n, c.n_heads, c.n_kv_heads,
                        c.head_dim);
    }
    block_finish(m, l, h.data(), o.data(), rows, s);
  }
  for (const BatchItem& it : items) it.engine->n_pos_ += it.n;
  // The LM head once over every session's last row.
  std::vector<float> last((size_t)items.size() * c.dim), logits((size_t)items.size() * c.vocab_size);
  for (size_t i = 0; i < items.size(); ++i)
    std::copy_n(h.data() + (size_t)(off[i + 1] - 1) * c.dim, c.dim, last.data() + i * c.dim);
  final_logits(m, last.data(), (int)items.size(), logits.data(), s);
  for (size_t i = 0; i < items.size(); ++i)
    if (items[i].logits_last)
      std::copy_n(logits.data() + i * c.vocab_size, c.vocab_size, items[i].logits_last);
}

}  // namespace cascade
