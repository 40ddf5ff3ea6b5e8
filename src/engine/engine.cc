#include "engine/engine.h"

#include <numeric>

#include "kernels/kernels.h"
#include "util/error.h"

namespace cascade {

Engine::Engine(const Model& model) : model_(model) {
  const auto& c = model.cfg;
  k_cache_.resize(c.n_layers);
  v_cache_.resize(c.n_layers);
  cache_pos_.resize(c.context_length);
  std::iota(cache_pos_.begin(), cache_pos_.end(), 0);
}

void Engine::check_room(int n) const {
  const int ctx = model_.cfg.context_length;
  check(n_pos_ + n <= ctx, "context overflow: " + std::to_string(n_pos_ + n) +
                               " positions but the model's context is " + std::to_string(ctx) +
                               "; use a shorter prompt or fewer tokens");
}

void Engine::truncate(int n) {
  check(n >= 0 && n <= n_pos_, "Engine::truncate past the current position");
  n_pos_ = n;
}

void Engine::forward(const int32_t* tokens, int n, float* logits_last, float* logits_all) {
  const auto& c = model_.cfg;
  if (n <= 0) return;
  check_room(n);  // before embed_rows reads positions past the context
  h_.resize((size_t)n * c.dim);
  embed_rows(model_, tokens, cache_pos_.data() + n_pos_, n, h_.data());
  run_layers(h_.data(), n, 0, c.n_layers);
  if (logits_all) final_logits(model_, h_.data(), n, logits_all, scratch_);
  if (logits_last) final_logits(model_, h_.data() + (size_t)(n - 1) * c.dim, 1, logits_last, scratch_);
}

void Engine::reserve_cache(int total, int l0, int l1) {
  const auto& c = model_.cfg;
  const int kv = c.kv_dim();
  for (int l = l0; l < l1; ++l) {
    if (k_cache_[l].size() < (size_t)total * kv) {
      // Grow geometrically up to the context so decode does not reallocate.
      size_t cap = std::min<size_t>((size_t)c.context_length,
                                    std::max<size_t>(total, 2 * k_cache_[l].size() / kv + 64));
      k_cache_[l].resize(cap * kv);
      v_cache_[l].resize(cap * kv);
    }
  }
}

void Engine::run_layers(float* h, int n, int l0, int l1) {
  const auto& c = model_.cfg;
  check_room(n);
  const int kv = c.kv_dim(), qd = c.q_dim();
  const int total = n_pos_ + n;
  reserve_cache(total, l0, l1);
  q_.resize((size_t)n * qd);
  o_.resize((size_t)n * qd);
  lse_.resize((size_t)n * c.n_heads);
  const int32_t* pos = cache_pos_.data() + n_pos_;
  if (observer_ && l0 == 0) observer_(0, h, n, n_pos_);
  for (int l = l0; l < l1; ++l) {
    float* kc = k_cache_[l].data();
    float* vc = v_cache_[l].data();
    block_qkv(model_, l, h, pos, n, q_.data(), kc + (size_t)n_pos_ * kv, vc + (size_t)n_pos_ * kv,
              scratch_);
    attention_partial(o_.data(), lse_.data(), q_.data(), pos, n, kc, vc, cache_pos_.data(), total,
                      c.n_heads, c.n_kv_heads, c.head_dim);
    block_finish(model_, l, h, o_.data(), n, scratch_);
    if (observer_) observer_(l + 1, h, n, n_pos_);
  }
  n_pos_ = total;
}

}  // namespace cascade
