#include "attacks/candidate_qkv.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "kernels/kernels.h"
#include "util/error.h"

namespace cascade::attacks {

CandidateQkv::CandidateQkv(const Model& m) : m_(m) {
  cache_pos_.resize(m.cfg.context_length);
  std::iota(cache_pos_.begin(), cache_pos_.end(), 0);
  q_.resize(m.cfg.n_layers);
  k_.resize(m.cfg.n_layers);
  v_.resize(m.cfg.n_layers);
  h_.resize(m.cfg.n_layers + 1);
}

void CandidateQkv::evaluate(const Engine& prefix, const int32_t* candidates, int n, int n_blocks) {
  const auto& c = m_.cfg;
  if (n_blocks <= 0) n_blocks = c.n_layers;
  check(n_blocks <= c.n_layers, "CandidateQkv: block out of range");
  const int i = prefix.position();
  check(i < c.context_length, "CandidateQkv: no room for a candidate position");
  if (n <= 0) return;
  rows_evaluated_ += n;
  const int qd = c.q_dim(), kv = c.kv_dim(), hd = c.head_dim, H = c.n_heads;
  const int group = c.n_heads / c.n_kv_heads;
  pos_.assign(n, i);
  o_prefix_.resize((size_t)n * qd);
  o_self_.resize((size_t)n * qd);
  o_.resize((size_t)n * qd);
  lse_prefix_.resize((size_t)n * H);
  lse_self_.resize((size_t)n * H);
  h_[0].resize((size_t)n * c.dim);
  embed_rows(m_, candidates, pos_.data(), n, h_[0].data());
  const float scale = 1.0f / std::sqrt((float)hd);
  for (int l = 0; l < n_blocks; ++l) {
    q_[l].resize((size_t)n * qd);
    k_[l].resize((size_t)n * kv);
    v_[l].resize((size_t)n * kv);
    block_qkv(m_, l, h_[l].data(), pos_.data(), n, q_[l].data(), k_[l].data(), v_[l].data(), scratch_);
    attention_partial(o_prefix_.data(), lse_prefix_.data(), q_[l].data(), pos_.data(), n, prefix.k_cache(l),
                      prefix.v_cache(l), cache_pos_.data(), i, c.n_heads, c.n_kv_heads, hd);
    // Self term: a softmax over the one key k_t is 1, so out = v_t and lse = q·k_t/√hd.
    for (int t = 0; t < n; ++t) {
      for (int h = 0; h < H; ++h) {
        const float* qh = q_[l].data() + (size_t)t * qd + h * hd;
        const float* kh = k_[l].data() + (size_t)t * kv + (h / group) * hd;
        const float* vh = v_[l].data() + (size_t)t * kv + (h / group) * hd;
        float s = 0;
        for (int j = 0; j < hd; ++j) s += qh[j] * kh[j];
        lse_self_[(size_t)t * H + h] = s * scale;
        std::copy(vh, vh + hd, o_self_.begin() + (ptrdiff_t)((size_t)t * qd + h * hd));
      }
    }
    const float* parts_out[2] = {o_prefix_.data(), o_self_.data()};
    const float* parts_lse[2] = {lse_prefix_.data(), lse_self_.data()};
    attention_merge(o_.data(), parts_out, parts_lse, 2, n, H, hd);
    h_[l + 1] = h_[l];
    block_finish(m_, l, h_[l + 1].data(), o_.data(), n, scratch_);
  }
}

}  // namespace cascade::attacks
