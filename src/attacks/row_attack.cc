#include "attacks/row_attack.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "attacks/candidate_qkv.h"
#include "attacks/candidate_rows.h"
#include "engine/engine.h"
#include "kernels/kernels.h"
#include "util/error.h"

namespace cascade::attacks {

RowAttackResult row_attack(const Model& m, const std::vector<RowObservation>& rows,
                           const std::vector<std::pair<int, int32_t>>& known, int n_positions,
                           const RowAttackOptions& opts, const std::function<void(int, int)>& progress) {
  const auto& c = m.cfg;
  const int V = c.vocab_size;
  check(n_positions > 0 && n_positions <= c.context_length, "row_attack: n_positions out of range");
  std::vector<std::vector<int>> at(n_positions);
  int n_blocks = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    const RowObservation& r = rows[i];
    check(r.pos >= 0 && r.pos < n_positions, "row_attack: row position out of range");
    size_t width = 0;
    switch (r.kind) {
      case 'h': width = c.dim; check(r.layer >= 0 && r.layer <= c.n_layers, "row_attack: bad block"); break;
      case 'q': width = c.q_dim(); break;
      case 'k': case 'v': width = c.kv_dim(); break;
      default: throw Error(std::string("row_attack: unknown row kind '") + r.kind + "'");
    }
    if (r.kind != 'h') check(r.layer >= 0 && r.layer < c.n_layers, "row_attack: bad block");
    check(r.x.size() == width, "row_attack: row width does not fit the model");
    n_blocks = std::max(n_blocks, r.kind == 'h' ? r.layer : r.layer + 1);
    at[r.pos].push_back((int)i);
  }
  n_blocks = std::max(n_blocks, 1);
  std::vector<int32_t> known_tok(n_positions, -1);
  for (auto [p, t] : known)
    if (p >= 0 && p < n_positions) known_tok[p] = t;

  RowAttackResult res;
  res.recovered.assign(n_positions, -1);
  res.seen.assign(n_positions, 0);
  res.accepted.assign(n_positions, 0);
  res.score.assign(n_positions, 0);
  res.rank.assign(n_positions, 0);
  Engine eng(m);
  CandidateQkv cq(m);
  std::vector<float> logits(V, 0.0f);
  std::vector<int32_t> batch;
  for (int s = 0; s < n_positions; ++s) {
    res.seen[s] = !at[s].empty();
    int32_t tok = known_tok[s];
    if (tok < 0 && at[s].empty()) tok = s > 0 ? argmax(logits.data(), V) : 0;
    if (tok < 0) {
      double norm = 0;
      for (int i : at[s])
        for (float x : rows[i].x) norm += (double)x * x;
      norm = std::max(norm, 1e-30);
      const std::vector<int32_t> order =
          (opts.model_order && s > 0) ? order_by_logits(logits.data(), V) : order_by_id(V);
      const int64_t limit = opts.budget > 0 ? std::min<int64_t>(opts.budget, V) : V;
      double best = std::numeric_limits<double>::infinity();
      int best_rank = 0;
      for (int64_t i0 = 0; i0 < limit; i0 += opts.batch) {
        const int n = (int)std::min<int64_t>(opts.batch, limit - i0);
        batch.assign(order.begin() + i0, order.begin() + i0 + n);
        cq.evaluate(eng, batch.data(), n, n_blocks);
        res.rows_computed += n;
        bool done = false;
        for (int ci = 0; ci < n; ++ci) {
          double d = 0;
          for (int i : at[s]) {
            const RowObservation& r = rows[i];
            const size_t w = r.x.size();
            const float* xc = r.kind == 'h'   ? cq.h(r.layer)
                              : r.kind == 'q' ? cq.q(r.layer)
                              : r.kind == 'k' ? cq.k(r.layer)
                                              : cq.v(r.layer);
            xc += (size_t)ci * w;
            for (size_t j = 0; j < w; ++j) d += ((double)xc[j] - r.x[j]) * ((double)xc[j] - r.x[j]);
          }
          const double score = std::sqrt(d / norm);
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
    eng.forward(&tok, 1, logits.data());
    if (progress) progress(s + 1, n_positions);
  }
  return res;
}

PriorBaseline prior_baseline(const Model& m, const std::vector<int32_t>& truth,
                             const std::vector<std::pair<int, int32_t>>& known) {
  const int n = (int)truth.size(), V = m.cfg.vocab_size;
  std::vector<int32_t> known_tok(n, -1);
  for (auto [p, t] : known)
    if (p >= 0 && p < n) known_tok[p] = t;
  PriorBaseline b;
  b.greedy.resize(n);
  b.teacher_forced.resize(n);
  std::vector<float> logits(V, 0.0f);
  Engine greedy(m), forced(m);
  std::vector<float> logits_f(V, 0.0f);
  for (int s = 0; s < n; ++s) {
    b.greedy[s] = known_tok[s] >= 0 ? known_tok[s] : (s > 0 ? argmax(logits.data(), V) : 0);
    b.teacher_forced[s] = known_tok[s] >= 0 ? known_tok[s] : (s > 0 ? argmax(logits_f.data(), V) : 0);
    greedy.forward(&b.greedy[s], 1, logits.data());
    forced.forward(&truth[s], 1, logits_f.data());
  }
  return b;
}

}  // namespace cascade::attacks
