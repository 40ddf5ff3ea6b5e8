#include "nodes/attn_mask.h"

#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "util/error.h"

namespace cascade {

std::string new_session_secret() {
  std::string s(32, '\0');
  check(RAND_bytes(reinterpret_cast<unsigned char*>(s.data()), (int)s.size()) == 1,
        "could not draw a session secret from OpenSSL's random generator");
  return s;
}

AttnMask::AttnMask(const ModelConfig& cfg, std::string secret)
    : cfg_(cfg), secret_(std::move(secret)), hd_(cfg.head_dim) {
  check(secret_.size() == 32, "private protocol: the session secret must be 32 bytes, got " +
                                  std::to_string(secret_.size()) + " (the client makes it when the session opens)");
  std::random_device rd;
  noise_state_ = ((uint64_t)rd() << 32) ^ rd();
  unsigned char digest[SHA256_DIGEST_LENGTH];
  const std::string in = secret_ + "score shifts";
  SHA256(reinterpret_cast<const unsigned char*>(in.data()), in.size(), digest);
  std::memcpy(&alpha_key_, digest, sizeof alpha_key_);
}

void AttnMask::alpha(int layer, int pos, float* out) const {
  // splitmix64 over (key, block, position, head): one 64-bit mix per value.
  for (int h = 0; h < cfg_.n_heads; ++h) {
    uint64_t z = alpha_key_ ^ ((uint64_t)(uint32_t)layer << 48) ^ ((uint64_t)(uint32_t)pos << 16) ^ (uint64_t)h;
    for (int round = 0; round < 2; ++round) {
      z += 0x9e3779b97f4a7c15ull;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      z ^= z >> 31;
    }
    const double u = (z >> 11) * (1.0 / 9007199254740992.0);  // [0, 1)
    out[h] = (float)((2.0 * u - 1.0) * kScoreShift);
  }
}

AttnMask::Mix AttnMask::draw(int kind, int layer, int g, int a, int b) const {
  // The mix is a pure function of (secret, kind, block, kv head, a, b), so the
  // client and every CompNode draw the same one. mt19937_64 and the
  // Box-Muller transform below are fully specified, unlike std's distributions.
  unsigned char digest[SHA256_DIGEST_LENGTH];
  std::string in = secret_;
  for (int v : {kind, layer, g, a, b}) in.append(reinterpret_cast<const char*>(&v), sizeof v);
  SHA256(reinterpret_cast<const unsigned char*>(in.data()), in.size(), digest);
  uint64_t seed;
  std::memcpy(&seed, digest, sizeof seed);
  std::mt19937_64 rng(seed);
  auto uniform = [&] { return ((rng() >> 11) + 0.5) * (1.0 / 9007199254740992.0); };  // (0, 1)
  auto normal = [&] { return std::sqrt(-2.0 * std::log(uniform())) * std::cos(2.0 * M_PI * uniform()); };
  const int w = width();
  Mix m;
  for (auto& u : m.u) {
    u.resize(w);
    double n2 = 0;
    for (double& x : u) {
      x = normal();
      n2 += x * x;
    }
    for (double& x : u) x /= std::sqrt(n2);
  }
  m.d.resize(w);
  for (double& x : m.d) x = std::exp((2.0 * uniform() - 1.0) * std::log(2.0));  // log-uniform [1/2, 2]
  return m;
}

const AttnMask::Mix& AttnMask::qk_mix(int layer, int g, int a, int b) const {
  auto key = std::make_tuple(layer, g, a, b);
  auto it = qk_.find(key);
  if (it == qk_.end()) it = qk_.emplace(key, draw(0, layer, g, a, b)).first;
  return it->second;
}

const AttnMask::Mix& AttnMask::v_mix(int layer, int g, int a) const {
  auto key = std::make_tuple(layer, g, a, 0);
  auto it = v_.find(key);
  if (it == v_.end()) it = v_.emplace(key, draw(1, layer, g, a, 0)).first;
  return it->second;
}

namespace {
void reflect(const std::vector<double>& u, double* x) {
  // Eight partial sums, so the dot product vectorises without reassociation flags.
  const size_t n = u.size();
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += x[i + j] * u[i + j];
  double dot = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; i < n; ++i) dot += x[i] * u[i];
  const double d2 = 2.0 * dot;
  for (i = 0; i < n; ++i) x[i] -= d2 * u[i];
}
}  // namespace

void AttnMask::apply(const Mix& m, bool inverse_diag, double* x) const {
  reflect(m.u[0], x);
  reflect(m.u[1], x);
  for (int i = 0; i < width(); ++i) x[i] = inverse_diag ? x[i] / m.d[i] : x[i] * m.d[i];
  reflect(m.u[2], x);
  reflect(m.u[3], x);
}

void AttnMask::apply_inverse(const Mix& m, double* x, bool transpose) const {
  reflect(m.u[3], x);
  reflect(m.u[2], x);
  for (int i = 0; i < width(); ++i) x[i] = transpose ? x[i] * m.d[i] : x[i] / m.d[i];
  reflect(m.u[1], x);
  reflect(m.u[0], x);
}

// Every (row, head) of src [n][heads][in_w] through `op(t, mix, x)` on a
// double row x of width hd' (src values first, the rest zero), stored to dst
// [n][heads][out_w]; mix_of(h) is looked up once per head.
template <class MixOf, class Op>
void AttnMask::per_head(int n, int heads, const float* src, int in_w, float* dst, int out_w, MixOf mix_of,
                        Op op) const {
  std::vector<double> x(width());
  for (int h = 0; h < heads; ++h) {
    const Mix& mix = mix_of(h);
    for (int t = 0; t < n; ++t) {
      const float* in = src + ((size_t)t * heads + h) * in_w;
      std::fill(x.begin(), x.end(), 0.0);
      for (int i = 0; i < in_w; ++i) x[i] = in[i];
      op(t, h, mix, x.data());
      float* out = dst + ((size_t)t * heads + h) * out_w;
      for (int i = 0; i < out_w; ++i) out[i] = (float)x[i];
    }
  }
}

void AttnMask::mask_q(int layer, int a, int b, const float* q, const float* alpha, int n, float* out) const {
  const int H = cfg_.n_heads, group = cfg_.n_heads / cfg_.n_kv_heads;
  const double up = std::sqrt((double)width() / hd_), shift = std::sqrt((double)width());
  per_head(n, H, q, hd_, out, width(), [&](int h) -> const Mix& { return qk_mix(layer, h / group, a, b); },
           [&](int t, int h, const Mix& mix, double* x) {
             for (int i = 0; i < hd_; ++i) x[i] *= up;
             x[hd_] = alpha[(size_t)t * H + h] * shift;
             apply(mix, false, x);
           });
}

void AttnMask::mask_k(int layer, int a, int b, const float* k, int n, float* out) const {
  per_head(n, cfg_.n_kv_heads, k, hd_, out, width(), [&](int g) -> const Mix& { return qk_mix(layer, g, a, b); },
           [&](int, int, const Mix& mix, double* x) {
             x[hd_] = 1.0;
             apply(mix, true, x);
           });
}

void AttnMask::mask_v(int layer, int a, const float* v, int n, float* out) {
  per_head(n, cfg_.n_kv_heads, v, hd_, out, width(), [&](int g) -> const Mix& { return v_mix(layer, g, a); },
           [&](int, int, const Mix& mix, double* x) {
             noise_state_ = noise_state_ * 6364136223846793005ull + 1442695040888963407ull;
             x[hd_] = (double)(int32_t)(noise_state_ >> 32) / 2147483648.0;  // r in [-1, 1)
             apply(mix, false, x);
           });
}

void AttnMask::mask_out(int layer, int a, const float* o, int n, float* out) const {
  const int group = cfg_.n_heads / cfg_.n_kv_heads;
  per_head(n, cfg_.n_heads, o, hd_, out, width(), [&](int h) -> const Mix& { return v_mix(layer, h / group, a); },
           [&](int, int, const Mix& mix, double* x) { apply(mix, false, x); });
}

void AttnMask::unmask_out(int layer, int a, const float* masked, int n, float* o) const {
  const int group = cfg_.n_heads / cfg_.n_kv_heads;
  per_head(n, cfg_.n_heads, masked, width(), o, hd_,
           [&](int h) -> const Mix& { return v_mix(layer, h / group, a); },
           [&](int, int, const Mix& mix, double* x) { apply_inverse(mix, x); });
}

void AttnMask::unmask_q(int layer, int a, int b, const float* masked, int n, float* q, float* alpha) const {
  const int H = cfg_.n_heads, group = cfg_.n_heads / cfg_.n_kv_heads;
  const double up = std::sqrt((double)width() / hd_), shift = std::sqrt((double)width());
  per_head(n, H, masked, width(), q, hd_, [&](int h) -> const Mix& { return qk_mix(layer, h / group, a, b); },
           [&](int t, int h, const Mix& mix, double* x) {
             apply_inverse(mix, x);
             for (int i = 0; i < hd_; ++i) x[i] /= up;
             if (alpha) alpha[(size_t)t * H + h] = (float)(x[hd_] / shift);
           });
}

void AttnMask::unmask_k(int layer, int a, int b, const float* masked, int n, float* k) const {
  // k' = k_aug · M⁻ᵀ, so k_aug = k' · Mᵀ.
  per_head(n, cfg_.n_kv_heads, masked, width(), k, hd_,
           [&](int g) -> const Mix& { return qk_mix(layer, g, a, b); },
           [&](int, int, const Mix& mix, double* x) { apply_inverse(mix, x, true); });
}

void AttnMask::unmask_v(int layer, int a, const float* masked, int n, float* v) const {
  per_head(n, cfg_.n_kv_heads, masked, width(), v, hd_, [&](int g) -> const Mix& { return v_mix(layer, g, a); },
           [&](int, int, const Mix& mix, double* x) { apply_inverse(mix, x); });
}

}  // namespace cascade
