#include "attacks/candidate_rows.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "kernels/kernels.h"
#include "util/error.h"

namespace cascade::attacks {

CandidateRows::CandidateRows(const Model& m) : m_(m) {
  cache_pos_.resize(m.cfg.context_length);
  std::iota(cache_pos_.begin(), cache_pos_.end(), 0);
}

void CandidateRows::evaluate(const Engine& prefix, const int32_t* candidates, int n, int layer,
                             float* rows) {
  const auto& c = m_.cfg;
  check(layer >= 0 && layer <= c.n_layers, "CandidateRows: layer out of range");
  const int i = prefix.position();
  check(i < c.context_length, "CandidateRows: no room for a candidate position");
  if (n <= 0) return;
  rows_evaluated_ += n;
  const int qd = c.q_dim(), kv = c.kv_dim(), hd = c.head_dim, H = c.n_heads;
  const int group = c.n_heads / c.n_kv_heads;
  pos_.assign(n, i);
  q_.resize((size_t)n * qd);
  k_.resize((size_t)n * kv);
  v_.resize((size_t)n * kv);
  o_prefix_.resize((size_t)n * qd);
  o_self_.resize((size_t)n * qd);
  o_.resize((size_t)n * qd);
  lse_prefix_.resize((size_t)n * H);
  lse_self_.resize((size_t)n * H);
  embed_rows(m_, candidates, pos_.data(), n, rows);
  const float scale = 1.0f / std::sqrt((float)hd);
  for (int l = 0; l < layer; ++l) {
    block_qkv(m_, l, rows, pos_.data(), n, q_.data(), k_.data(), v_.data(), scratch_);
    attention_partial(o_prefix_.data(), lse_prefix_.data(), q_.data(), pos_.data(), n,
                      prefix.k_cache(l), prefix.v_cache(l), cache_pos_.data(), i, c.n_heads,
                      c.n_kv_heads, hd);
    // Self term: softmax over the single key k_t is 1, so out = v_t and the
    // log-sum-exp is the raw score.
    for (int t = 0; t < n; ++t) {
      for (int h = 0; h < H; ++h) {
        const float* qh = q_.data() + (size_t)t * qd + h * hd;
        const float* kh = k_.data() + (size_t)t * kv + (h / group) * hd;
        const float* vh = v_.data() + (size_t)t * kv + (h / group) * hd;
        float s = 0;
        for (int j = 0; j < hd; ++j) s += qh[j] * kh[j];
        lse_self_[(size_t)t * H + h] = s * scale;
        std::copy(vh, vh + hd, o_self_.begin() + (ptrdiff_t)((size_t)t * qd + h * hd));
      }
    }
    const float* parts_out[2] = {o_prefix_.data(), o_self_.data()};
    const float* parts_lse[2] = {lse_prefix_.data(), lse_self_.data()};
    attention_merge(o_.data(), parts_out, parts_lse, 2, n, H, hd);
    block_finish(m_, l, rows, o_.data(), n, scratch_);
  }
}

std::vector<int32_t> order_by_logits(const float* logits, int vocab_size) {
  std::vector<int32_t> ids = order_by_id(vocab_size);
  std::stable_sort(ids.begin(), ids.end(),
                   [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  return ids;
}

std::vector<int32_t> order_by_id(int vocab_size) {
  std::vector<int32_t> ids(vocab_size);
  std::iota(ids.begin(), ids.end(), 0);
  return ids;
}

}  // namespace cascade::attacks
