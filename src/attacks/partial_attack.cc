#include "attacks/partial_attack.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "attacks/candidate_qkv.h"
#include "attacks/candidate_rows.h"
#include "engine/engine.h"
#include "kernels/kernels.h"
#include "util/error.h"

extern "C" void dsyev_(const char* jobz, const char* uplo, const int* n, double* a, const int* lda, double* w,
                       double* work, const int* lwork, int* info);

namespace cascade::attacks {

namespace {

// Sum of the `count` smallest eigenvalues of the symmetric n×n matrix g
// (LAPACK dsyev; g is overwritten). Negative rounding is clamped to 0.
double smallest_eigen_sum(std::vector<double>& g, int n, int count, std::vector<double>& w,
                          std::vector<double>& work) {
  if (count <= 0) return 0;
  const int lwork = (int)work.size();
  int info = 0;
  w.resize(n);
  dsyev_("N", "U", &n, g.data(), &n, w.data(), work.data(), &lwork, &info);
  check(info == 0, "partial_attack: eigenvalue solver failed (dsyev info " + std::to_string(info) + ")");
  double s = 0;
  for (int i = 0; i < count && i < n; ++i) s += std::max(0.0, w[i]);
  return s;
}

// The observations of one block and kv head that constrain position s.
struct Group {
  int layer = 0, kv_head = 0;
  std::vector<int> obs;
  int unresolved = 0;  // |∪ U_o|: the rank the right candidate's residual may have
  double energy = 0;   // Σ ‖[out_h; 1]‖² over the group's rows
};

}  // namespace

PartialAttackResult partial_attack(const Model& m, const ReceivedView& view,
                                   const std::vector<std::pair<int, int32_t>>& known, int n_positions,
                                   const PartialAttackOptions& opts,
                                   const std::function<void(int, int)>& progress) {
  const auto& c = m.cfg;
  const int V = c.vocab_size, H = c.n_heads, hd = c.head_dim, kvd = c.kv_dim();
  const int group = c.n_heads / c.n_kv_heads, w1 = hd + 1;
  check(n_positions > 0 && n_positions <= c.context_length, "partial_attack: n_positions out of range");
  const double scale = 1.0 / std::sqrt((double)hd);
  const std::vector<AttnObservation>& obs = view.attn;
  const std::vector<RowObservation>& rows = view.rows;

  // Residual state per observation and head: [out_h; 1] minus the terms of
  // the keys resolved so far (everything divided by e^{lse_h}).
  int n_blocks = 0;
  std::vector<std::vector<double>> R(obs.size());
  std::vector<std::vector<double>> E0(obs.size());
  // Normalized observations: Σ of the resolved keys' weights per head; a
  // candidate's residual is divided by it (plus its own weight), so it is
  // measured in the units of a softmax average, as in the lse form.
  std::vector<std::vector<double>> mass(obs.size());
  std::vector<std::vector<int>> cover(n_positions);
  for (size_t o = 0; o < obs.size(); ++o) {
    const AttnObservation& ob = obs[o];
    check(ob.layer >= 0 && ob.layer < c.n_layers, "partial_attack: observation block out of range");
    check(ob.q.size() == (size_t)H * hd && ob.out.size() == (size_t)H * hd && ob.lse.size() == (size_t)H,
          "partial_attack: observation sizes do not fit the model");
    check(std::is_sorted(ob.key_pos.begin(), ob.key_pos.end()), "partial_attack: key positions must ascend");
    n_blocks = std::max(n_blocks, ob.layer + 1);
    R[o].resize((size_t)H * w1);
    E0[o].resize(H);
    for (int h = 0; h < H; ++h) {
      double e = 1;
      for (int j = 0; j < hd; ++j) {
        R[o][(size_t)h * w1 + j] = ob.out[(size_t)h * hd + j];
        e += (double)ob.out[(size_t)h * hd + j] * ob.out[(size_t)h * hd + j];
      }
      R[o][(size_t)h * w1 + hd] = 1;
      E0[o][h] = e;
    }
    if (ob.normalized) {
      // Σ_s w_s·(v_s − out) = 0 over the keys: the residual starts at 0 (its
      // last coordinate stays 0), and each key's term is w·(v − out), with
      // w = e^{score − lse} scaled by the observation's reference score.
      std::fill(R[o].begin(), R[o].end(), 0.0);
      mass[o].assign(H, 0.0);
    }
    for (int s : ob.key_pos)
      check(s >= 0 && s < n_positions, "partial_attack: key position " + std::to_string(s) + " out of range");
  }
  std::vector<std::vector<int>> rows_at(n_positions);
  for (size_t i = 0; i < rows.size(); ++i) {
    const RowObservation& r = rows[i];
    check(r.pos >= 0 && r.pos < n_positions, "partial_attack: row position out of range");
    size_t width = 0;
    switch (r.kind) {
      case 'h': width = c.dim; break;
      case 'q': width = c.q_dim(); break;
      case 'k': case 'v': width = kvd; break;
      default: throw Error(std::string("partial_attack: unknown row kind '") + r.kind + "'");
    }
    check(r.layer >= 0 && (r.kind == 'h' ? r.layer <= c.n_layers : r.layer < c.n_layers),
          "partial_attack: row block out of range");
    check(r.x.size() == width, "partial_attack: row width does not fit the model");
    n_blocks = std::max(n_blocks, r.kind == 'h' ? r.layer : r.layer + 1);
    rows_at[r.pos].push_back((int)i);
  }
  n_blocks = std::max(n_blocks, 1);

  // e^{-lse}·e^{a}·[v; 1] of key (k, v) leaves observation o (normalized
  // observations: e^{a − lse}·[v − out; 0]).
  auto subtract = [&](int o, const float* ks, const float* vs) {
    for (int h = 0; h < H; ++h) {
      const int g = h / group;
      const float* qh = obs[o].q.data() + (size_t)h * hd;
      double a = 0;
      for (int j = 0; j < hd; ++j) a += (double)qh[j] * ks[g * hd + j];
      const double w = std::exp(a * scale - obs[o].lse[h]);
      double* Rh = R[o].data() + (size_t)h * w1;
      if (obs[o].normalized) {  // w·(v − out); the last coordinate stays 0
        const float* oh = obs[o].out.data() + (size_t)h * hd;
        for (int j = 0; j < hd; ++j) Rh[j] -= w * (vs[g * hd + j] - oh[j]);
        mass[o][h] += w;
        continue;
      }
      for (int j = 0; j < hd; ++j) Rh[j] -= w * vs[g * hd + j];
      Rh[hd] -= w;
    }
  };
  // Keys whose k and v rows the attacker holds (a CompNode's own rows) are
  // known whatever their token: their terms leave every observation now,
  // and they are never unresolved. open[o]: the other keys of o.
  std::map<std::pair<int, int>, std::pair<const float*, const float*>> kv_known;  // (block, pos)
  for (const RowObservation& r : rows)
    if (r.kind == 'k') kv_known[{r.layer, r.pos}].first = r.x.data();
  for (const RowObservation& r : rows)
    if (r.kind == 'v') kv_known[{r.layer, r.pos}].second = r.x.data();
  std::vector<std::vector<int>> open(obs.size());
  for (size_t o = 0; o < obs.size(); ++o) {
    for (int s : obs[o].key_pos) {
      const auto it = kv_known.find({obs[o].layer, s});
      if (it != kv_known.end() && it->second.first && it->second.second) {
        subtract((int)o, it->second.first, it->second.second);
      } else {
        open[o].push_back(s);
        cover[s].push_back((int)o);
      }
    }
  }
  auto unresolved_after = [&](int o, int s) {  // U_o: open keys of o past s
    const auto& k = open[o];
    return (int)(k.end() - std::upper_bound(k.begin(), k.end(), s));
  };

  std::vector<int32_t> known_tok(n_positions, -1);
  for (auto [p, t] : known)
    if (p >= 0 && p < n_positions) known_tok[p] = t;

  PartialAttackResult res;
  res.recovered.assign(n_positions, -1);
  res.covered.assign(n_positions, 0);
  res.testable.assign(n_positions, 0);
  res.accepted.assign(n_positions, 0);
  res.score.assign(n_positions, 0);
  res.rank.assign(n_positions, 0);

  Engine eng(m);
  CandidateQkv cq(m);
  std::vector<float> logits(V, 0.0f);
  std::vector<double> gram((size_t)w1 * w1), eig, work(std::max(1, 3 * w1 - 1) * 4), r(w1);
  std::vector<int32_t> batch;

  for (int s = 0; s < n_positions; ++s) {
    res.covered[s] = !cover[s].empty() || !rows_at[s].empty();
    int32_t tok = known_tok[s];
    if (tok < 0 && !res.covered[s]) tok = s > 0 ? argmax(logits.data(), V) : 0;
    if (tok < 0) {
      // Groups of observations covering s, per (block, kv head).
      std::vector<Group> groups;
      for (int l = 0; l < n_blocks; ++l) {
        std::vector<int> os;
        for (int o : cover[s])
          if (obs[o].layer == l) os.push_back(o);
        if (os.empty()) continue;
        std::sort(os.begin(), os.end(), [&](int a, int b) {
          int ua = unresolved_after(a, s), ub = unresolved_after(b, s);
          return ua != ub ? ua < ub : obs[a].query_pos < obs[b].query_pos;
        });
        // The prefix of os with the most rows beyond its unresolved keys.
        std::set<int> U;
        int best_n = 0, best_margin = 0, best_u = 0;
        for (size_t n = 0; n < os.size(); ++n) {
          const auto& k = open[os[n]];
          for (auto it = std::upper_bound(k.begin(), k.end(), s); it != k.end(); ++it) U.insert(*it);
          const int margin = (int)(n + 1) * group - (int)U.size();
          if ((int)U.size() < w1 && margin > 0 && margin >= best_margin) {
            best_n = (int)n + 1;
            best_margin = margin;
            best_u = (int)U.size();
          }
        }
        if (best_n == 0) continue;
        for (int g = 0; g < c.n_kv_heads; ++g) {
          Group gr;
          gr.layer = l;
          gr.kv_head = g;
          gr.obs.assign(os.begin(), os.begin() + best_n);
          gr.unresolved = best_u;
          for (int o : gr.obs)
            for (int h = g * group; h < (g + 1) * group; ++h) gr.energy += E0[o][h];
          groups.push_back(std::move(gr));
        }
      }
      // Groups with fewer unresolved keys first: cheaper and sharper, so a
      // wrong candidate is dropped early.
      std::stable_sort(groups.begin(), groups.end(),
                       [](const Group& a, const Group& b) { return a.unresolved < b.unresolved; });
      res.testable[s] = !groups.empty() || !rows_at[s].empty();
      double energy = 0, row_norm = 0;
      for (const Group& g : groups) energy += g.energy;
      for (int i : rows_at[s])
        for (float x : rows[i].x) row_norm += (double)x * x;
      row_norm = std::max(row_norm, 1e-30);

      const std::vector<int32_t> order =
          (opts.model_order && s > 0) ? order_by_logits(logits.data(), V) : order_by_id(V);
      const int64_t limit = opts.budget > 0 ? std::min<int64_t>(opts.budget, V) : V;
      double best = std::numeric_limits<double>::infinity();
      int best_rank = 0;
      if (!res.testable[s]) {  // nothing tells candidates apart: the first one
        tok = order[0];
        best = 0;
        best_rank = 1;
      }
      for (int64_t i0 = 0; res.testable[s] && i0 < limit; i0 += opts.batch) {
        const int n = (int)std::min<int64_t>(opts.batch, limit - i0);
        batch.assign(order.begin() + i0, order.begin() + i0 + n);
        cq.evaluate(eng, batch.data(), n, n_blocks);
        res.rows_computed += n;
        bool done = false;
        for (int ci = 0; ci < n; ++ci) {
          double tail = 0;
          for (const Group& g : groups) {
            const float* kc = cq.k(g.layer) + (size_t)ci * kvd + g.kv_head * hd;
            const float* vc = cq.v(g.layer) + (size_t)ci * kvd + g.kv_head * hd;
            std::fill(gram.begin(), gram.end(), 0.0);
            for (int o : g.obs) {
              for (int h = g.kv_head * group; h < (g.kv_head + 1) * group; ++h) {
                const float* qh = obs[o].q.data() + (size_t)h * hd;
                double a = 0;
                for (int j = 0; j < hd; ++j) a += (double)qh[j] * kc[j];
                const double* Rh = R[o].data() + (size_t)h * w1;
                if (obs[o].normalized) {
                  const double w = std::exp(a * scale - obs[o].lse[h]);
                  const double unit = 1.0 / (mass[o][h] + w);
                  const float* oh = obs[o].out.data() + (size_t)h * hd;
                  for (int j = 0; j < hd; ++j) r[j] = (Rh[j] - w * (vc[j] - oh[j])) * unit;
                  r[hd] = 0;
                } else {
                  const double w = std::exp(a * scale - obs[o].lse[h]);
                  for (int j = 0; j < hd; ++j) r[j] = Rh[j] - w * vc[j];
                  r[hd] = Rh[hd] - w;
                }
                for (int x = 0; x < w1; ++x)
                  for (int y = x; y < w1; ++y) gram[(size_t)y * w1 + x] += r[x] * r[y];
              }
            }
            if (g.unresolved == 0) {  // nothing may remain: the whole residual is unexplained
              for (int x = 0; x < w1; ++x) tail += gram[(size_t)x * w1 + x];
            } else {
              tail += smallest_eigen_sum(gram, w1, w1 - g.unresolved, eig, work);
            }
            if (std::sqrt(tail / energy) >= best) break;  // the score only grows: it cannot win
          }
          double d = 0;
          for (int i : rows_at[s]) {
            const RowObservation& r = rows[i];
            const size_t w = r.x.size();
            const float* xc = (r.kind == 'h'   ? cq.h(r.layer)
                               : r.kind == 'q' ? cq.q(r.layer)
                               : r.kind == 'k' ? cq.k(r.layer)
                                               : cq.v(r.layer)) +
                              (size_t)ci * w;
            for (size_t j = 0; j < w; ++j) d += ((double)xc[j] - r.x[j]) * ((double)xc[j] - r.x[j]);
          }
          const double score = std::sqrt((groups.empty() ? 0 : tail / energy) + (rows_at[s].empty() ? 0 : d / row_norm));
          if (score < best) {
            best = score;
            tok = batch[ci];
            best_rank = (int)(i0 + ci + 1);
          }
          if (score < opts.accept) {
            done = true;
            break;
          }
        }
        if (done) break;
      }
      res.accepted[s] = best < opts.accept;
      res.score[s] = (float)best;
      res.rank[s] = best_rank;
      res.candidates_tried += best_rank;
    }
    res.recovered[s] = tok;
    // Take the position: its k, v join the prefix, and their terms leave
    // every observation that covers it.
    eng.forward(&tok, 1, logits.data());
    for (int o : cover[s])
      subtract(o, eng.k_cache(obs[o].layer) + (size_t)s * kvd, eng.v_cache(obs[o].layer) + (size_t)s * kvd);
    if (progress) progress(s + 1, n_positions);
  }
  return res;
}

}  // namespace cascade::attacks
