#include "attacks/masked_attn_attack.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "attacks/candidate_rows.h"
#include "engine/engine.h"
#include "engine/layer.h"
#include "kernels/kernels.h"
#include "util/error.h"

namespace cascade::attacks {

namespace {

// The node's masked rows, per block: position → row.
struct Received {
  int width = 0;  // hd'
  std::vector<std::map<int, std::vector<float>>> q, k;  // [layer]
};

Received parse(const Model& m, const Plan& plan, const std::vector<Message>& received) {
  const auto& c = m.cfg;
  const int F = plan.front_layers(), L = c.n_layers;
  Received r;
  r.q.resize(L);
  r.k.resize(L);
  for (const Message& msg : received) {
    if (msg.type != MsgType::kAttnRows && msg.type != MsgType::kCacheRows) continue;
    const int blocks = msg.type == MsgType::kCacheRows ? L - F : 1;
    if (!msg.pos.empty()) r.width = (int)(msg.rows.size() / (msg.pos.size() * c.n_heads));
    else if (!msg.kv_pos.empty()) r.width = (int)(msg.k.size() / ((size_t)blocks * msg.kv_pos.size() * c.n_kv_heads));
    const size_t qw = (size_t)c.n_heads * r.width, kw = (size_t)c.n_kv_heads * r.width;
    check(msg.rows.size() == msg.pos.size() * qw && msg.k.size() == (size_t)blocks * msg.kv_pos.size() * kw,
          "masked attn attack: a rows message does not fit the model");
    for (size_t i = 0; i < msg.pos.size(); ++i)
      r.q[msg.layer][msg.pos[i]].assign(msg.rows.begin() + i * qw, msg.rows.begin() + (i + 1) * qw);
    for (int b = 0; b < blocks; ++b)
      for (size_t i = 0; i < msg.kv_pos.size(); ++i) {
        const size_t at = ((size_t)b * msg.kv_pos.size() + i) * kw;
        r.k[msg.layer + b][msg.kv_pos[i]].assign(msg.k.begin() + at, msg.k.begin() + at + kw);
      }
  }
  return r;
}

// Clear q, k rows of every position for a guessed sequence, blocks [F, L).
struct Rows {
  std::vector<std::vector<float>> q, k;  // [layer][pos * dim]
};

class RowMaker {
 public:
  RowMaker(const Model& m, int F) : m_(m), F_(F), engine_(m) {
    engine_.set_observer([this](int layer, const float* h, int n, int pos0) {
      if (layer < F_ || layer >= m_.cfg.n_layers) return;
      auto& hl = h_[layer];
      hl.resize((size_t)(pos0 + n) * m_.cfg.dim);
      std::copy(h, h + (size_t)n * m_.cfg.dim, hl.begin() + (size_t)pos0 * m_.cfg.dim);
    });
    h_.resize(m.cfg.n_layers);
  }
  // Feeds tokens at positions [engine position, +n): fills h_ for them; the
  // logits of the last one into `logits`.
  void feed(const int32_t* tok, int n, std::vector<float>& logits) {
    logits.resize(m_.cfg.vocab_size);
    engine_.forward(tok, n, logits.data());
  }
  void truncate(int n) { engine_.truncate(n); }
  int position() const { return engine_.position(); }
  // q, k of block `layer` for positions [p0, p0 + n) from the stored h rows.
  void qk(int layer, int p0, int n, float* q, float* k) {
    const auto& c = m_.cfg;
    std::vector<int32_t> pos(n);
    for (int i = 0; i < n; ++i) pos[i] = p0 + i;
    v_.resize((size_t)n * c.kv_dim());
    block_qkv(m_, layer, h_[layer].data() + (size_t)p0 * c.dim, pos.data(), n, q, k, v_.data(), scratch_);
  }

 private:
  const Model& m_;
  int F_;
  Engine engine_;
  std::vector<std::vector<float>> h_;
  std::vector<float> v_;
  RowScratch scratch_;
};

double dot(const float* a, const float* b, int n) {
  double s = 0;
  for (int i = 0; i < n; ++i) s += (double)a[i] * b[i];
  return s;
}

}  // namespace

MaskedAttnResult masked_attn_attack(const Model& m, const Plan& plan, int attn_index,
                                    const std::vector<Message>& received, const std::vector<int32_t>& known,
                                    const MaskedAttnOptions& opt) {
  const auto& c = m.cfg;
  const int F = plan.front_layers(), L = c.n_layers, n = (int)known.size(), H = c.n_heads, hd = c.head_dim;
  const int group = c.n_heads / c.n_kv_heads, qd = c.q_dim(), kvd = c.kv_dim();
  const Received rec = parse(m, plan, received);
  const int w = rec.width;
  MaskedAttnResult res;
  std::set<int> seen_set;
  for (int l = F; l < L; ++l) {
    for (auto& [p, row] : rec.q[l]) seen_set.insert(p);
    for (auto& [p, row] : rec.k[l]) seen_set.insert(p);
  }
  res.seen.assign(seen_set.begin(), seen_set.end());
  for (int p : res.seen) check(p < n, "masked attn attack: rows for a position past the session's end");

  // Observed scores σ(t, s, h) = q'·k'/√w for every pair the node can form.
  struct Pair { int t, s; };
  std::vector<std::vector<Pair>> pairs(L);
  std::vector<std::vector<std::vector<double>>> sigma(L);  // [layer][pair][head]
  for (int l = F; l < L; ++l)
    for (auto& [t, qrow] : rec.q[l])
      for (auto& [s, krow] : rec.k[l]) {
        if (s > t) continue;
        std::vector<double> sg(H);
        for (int h = 0; h < H; ++h)
          sg[h] = dot(qrow.data() + (size_t)h * w, krow.data() + (size_t)(h / group) * w, w) / std::sqrt((double)w);
        pairs[l].push_back({t, s});
        sigma[l].push_back(std::move(sg));
      }

  // Step 1: the prior.
  RowMaker rm(m, F);
  std::vector<float> logits;
  std::vector<int32_t> guess(n);
  std::vector<char> keep(n, 0);
  for (int p = 0; p < n; ++p)
    if (known[p] >= 0) guess[p] = known[p], keep[p] = 1;
  rm.truncate(0);
  for (int p = 0; p < n; ++p) {
    if (!keep[p] && p > 0) guess[p] = argmax(logits.data(), c.vocab_size);
    rm.feed(&guess[p], 1, logits);
  }
  res.prior = guess;

  // Current clear rows of the guess.
  Rows rows;
  auto refresh_rows = [&] {
    rows.q.assign(L, {});
    rows.k.assign(L, {});
    for (int l = F; l < L; ++l) {
      rows.q[l].resize((size_t)n * qd);
      rows.k[l].resize((size_t)n * kvd);
      rm.qk(l, 0, n, rows.q[l].data(), rows.k[l].data());
    }
  };
  refresh_rows();

  // Cost of the score differences that involve position p, with p's rows
  // (qp, kp per block) in place of the guess's.
  // The pairs of each query whose scores involve position p, per block:
  // what a candidate at p changes (the same for every candidate).
  using Groups = std::vector<std::map<int, std::vector<size_t>>>;  // [layer]: query t → pairs
  auto groups_of = [&](int p) {
    Groups g(L);
    for (int l = F; l < L; ++l) {
      for (size_t i = 0; i < pairs[l].size(); ++i)
        if (pairs[l][i].t == p || pairs[l][i].s == p) g[l][pairs[l][i].t];
      for (size_t i = 0; i < pairs[l].size(); ++i)
        if (g[l].count(pairs[l][i].t)) g[l][pairs[l][i].t].push_back(i);
    }
    return g;
  };
  auto cost = [&](int p, const Groups& groups, const std::vector<std::vector<float>>& qp,
                  const std::vector<std::vector<float>>& kp) {
    double total = 0;
    for (int l = F; l < L; ++l) {
      for (auto& [t, idx] : groups[l]) {
        if (idx.size() < 2) continue;  // one score: its shift explains it
        for (int h = 0; h < H; ++h) {
          const float* q = t == p ? qp[l].data() + (size_t)h * hd : rows.q[l].data() + (size_t)t * qd + (size_t)h * hd;
          std::vector<double> d;
          for (size_t i : idx) {
            const int s = pairs[l][i].s;
            const float* k = s == p ? kp[l].data() + (size_t)(h / group) * hd
                                    : rows.k[l].data() + (size_t)s * kvd + (size_t)(h / group) * hd;
            d.push_back(sigma[l][i][h] - dot(q, k, hd) / std::sqrt((double)hd));
          }
          double mean = 0;
          for (double x : d) mean += x;
          mean /= d.size();
          for (double x : d) total += (x - mean) * (x - mean);
        }
      }
    }
    return total;
  };

  for (int sweep = 0; sweep < opt.sweeps; ++sweep) {
    int valid = 0;  // the engine holds guess[0, valid)
    rm.truncate(0);
    for (int p : res.seen) {
      if (known[p] >= 0 || p == 0) continue;
      // The prior behind the current guess: logits after position p-1.
      rm.truncate(std::min(valid, p - 1));
      for (int i = rm.position(); i < p; ++i) rm.feed(&guess[i], 1, logits);
      valid = p;
      const Groups groups = groups_of(p);
      std::vector<int32_t> cands = {guess[p]};
      for (int32_t t : order_by_logits(logits.data(), c.vocab_size)) {
        if ((int)cands.size() > opt.top_k) break;
        if (t != guess[p]) cands.push_back(t);
      }
      double best = 0;
      int32_t best_tok = guess[p];
      std::vector<std::vector<float>> qp(L), kp(L);
      for (size_t ci = 0; ci < cands.size(); ++ci) {
        rm.truncate(p);
        rm.feed(&cands[ci], 1, logits);
        for (int l = F; l < L; ++l) {
          qp[l].resize(qd);
          kp[l].resize(kvd);
          rm.qk(l, p, 1, qp[l].data(), kp[l].data());
        }
        const double e = cost(p, groups, qp, kp);
        ++res.candidates_tried;
        if (ci == 0 || e < best) best = e, best_tok = cands[ci];
      }
      guess[p] = best_tok;
      keep[p] = 1;
      rm.truncate(p);  // the engine holds guess[0, p): position p held the last candidate
    }
    // Unseen positions: the prior behind the new guess; then fresh rows.
    rm.truncate(0);
    for (int p = 0; p < n; ++p) {
      if (!keep[p] && p > 0) guess[p] = argmax(logits.data(), c.vocab_size);
      rm.feed(&guess[p], 1, logits);
    }
    refresh_rows();
  }
  res.guess = guess;
  return res;
}

}  // namespace cascade::attacks
