#include "attacks/vocab_match.h"

#include <algorithm>
#include <limits>
#include <numeric>
#include <random>

#include "attacks/candidate_rows.h"
#include "attacks/row_distance.h"
#include "engine/engine.h"
#include "util/error.h"

namespace cascade::attacks {

const char* disguise_name(Disguise d) {
  switch (d) {
    case Disguise::kPlain: return "plain";
    case Disguise::kRowsShuffled: return "rows_shuffled";
    case Disguise::kDimsPermuted: return "dims_permuted";
    case Disguise::kBoth: return "rows_and_dims_shuffled";
  }
  return "?";
}

std::vector<float> disguise_rows(const HiddenStates& hs, int layer, Disguise d, uint64_t seed) {
  const int n = hs.n_pos, dim = hs.dim;
  std::mt19937_64 rng(seed);
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  if (shuffles_rows(d)) std::shuffle(order.begin(), order.end(), rng);
  std::vector<float> out = hs.gather(layer, order);
  if (permutes_dims(d)) {
    std::vector<int> perm(dim);
    std::vector<float> tmp(dim);
    for (int r = 0; r < n; ++r) {
      std::iota(perm.begin(), perm.end(), 0);
      std::shuffle(perm.begin(), perm.end(), rng);
      float* row = out.data() + (size_t)r * dim;
      for (int j = 0; j < dim; ++j) tmp[j] = row[perm[j]];
      std::copy(tmp.begin(), tmp.end(), row);
    }
  }
  return out;
}

int VocabMatchResult::n_correct(const std::vector<int32_t>& truth) const {
  int c = 0;
  for (size_t i = 0; i < truth.size() && i < recovered.size(); ++i) c += recovered[i] == truth[i];
  return c;
}

double VocabMatchResult::accuracy(const std::vector<int32_t>& truth) const {
  return truth.empty() ? 0.0 : (double)n_correct(truth) / truth.size();
}

double VocabMatchResult::mean_rank() const {
  return rank.empty() ? 0.0 : std::accumulate(rank.begin(), rank.end(), 0.0) / rank.size();
}

VocabMatchResult vocab_match(const Model& m, const float* observed, int n_rows,
                             const VocabMatchOptions& opts) {
  const int V = m.cfg.vocab_size, dim = m.cfg.dim;
  check(n_rows > 0 && n_rows <= m.cfg.context_length, "vocab_match: bad number of rows");
  check(opts.batch > 0, "vocab_match: batch must be positive");
  const bool sorted = permutes_dims(opts.disguise);
  const bool any_row = shuffles_rows(opts.disguise);
  std::vector<float> obs(observed, observed + (size_t)n_rows * dim);
  if (sorted) sort_each_row(obs.data(), n_rows, dim);

  const int limit = opts.budget > 0 ? std::min(opts.budget, V) : V;
  Engine eng(m);
  CandidateRows cand(m);
  std::vector<float> logits(V), rows((size_t)opts.batch * dim);
  std::vector<bool> used(n_rows, false);
  VocabMatchResult res;
  for (int i = 0; i < n_rows; ++i) {
    const std::vector<int32_t> order =
        (i > 0 && opts.model_order) ? order_by_logits(logits.data(), V) : order_by_id(V);
    float best_d = std::numeric_limits<float>::infinity();
    int best_rank = -1, best_row = -1, evaluated = 0;
    bool accepted = false;
    for (int start = 0; start < limit && !accepted; start += opts.batch) {
      const int n = std::min(opts.batch, limit - start);
      cand.evaluate(eng, order.data() + start, n, opts.layer, rows.data());
      evaluated += n;
      if (sorted) sort_each_row(rows.data(), n, dim);
      for (int t = 0; t < n && !accepted; ++t) {
        const float* r = rows.data() + (size_t)t * dim;
        // Plain: the row of position i. Shuffled: the nearest unused row.
        float d = std::numeric_limits<float>::infinity();
        int d_row = -1;
        for (int j = any_row ? 0 : i; j < (any_row ? n_rows : i + 1); ++j) {
          if (used[j]) continue;
          const float dj = l1_distance(r, obs.data() + (size_t)j * dim, dim);
          if (dj < d) d = dj, d_row = j;
        }
        if (d < best_d) best_d = d, best_rank = start + t, best_row = d_row;
        if (d < opts.epsilon) accepted = true;
      }
    }
    const int32_t tok = order[best_rank];
    res.recovered.push_back(tok);
    res.rank.push_back(accepted ? best_rank + 1 : limit);
    res.rows_evaluated.push_back(evaluated);
    res.distance.push_back(best_d);
    res.under_epsilon.push_back(accepted);
    if (any_row && best_row >= 0) used[best_row] = true;
    eng.forward(&tok, 1, logits.data());
  }
  return res;
}

EpsilonCalibration calibrate_epsilon(const Model& m, const std::vector<std::vector<int32_t>>& heldout,
                                     int layer, Disguise disguise) {
  const bool sorted_rows = permutes_dims(disguise), any_row = shuffles_rows(disguise);
  check(!heldout.empty(), "calibrate_epsilon: no held-out prompts");
  const int V = m.cfg.vocab_size, dim = m.cfg.dim;
  EpsilonCalibration cal;
  cal.max_true = 0;
  cal.min_wrong = std::numeric_limits<float>::infinity();
  CandidateRows cand(m);
  std::vector<int32_t> all = order_by_id(V);
  std::vector<float> rows((size_t)V * dim);
  for (const auto& toks : heldout) {
    const int N = (int)toks.size();
    HiddenStates hs = capture_hidden_states(m, toks);
    std::vector<float> obs(hs.rows[layer]);
    if (sorted_rows) sort_each_row(obs.data(), N, dim);
    Engine eng(m);
    for (int i = 0; i < N; ++i) {
      cand.evaluate(eng, all.data(), V, layer, rows.data());
      if (sorted_rows) sort_each_row(rows.data(), V, dim);
      for (int v = 0; v < V; ++v) {
        for (int j = i; j < (any_row ? N : i + 1); ++j) {
          const float d = l1_distance(rows.data() + (size_t)v * dim, obs.data() + (size_t)j * dim, dim);
          if (v == toks[i] && j == i) cal.max_true = std::max(cal.max_true, d);
          else cal.min_wrong = std::min(cal.min_wrong, d);
        }
      }
      eng.forward(&toks[i], 1, nullptr);
    }
    ++cal.n_prompts;
  }
  cal.separable = cal.max_true < cal.min_wrong;
  cal.epsilon = 0.5f * (cal.max_true + cal.min_wrong);
  return cal;
}

}  // namespace cascade::attacks
