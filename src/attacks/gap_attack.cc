#include "attacks/gap_attack.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "attacks/candidate_rows.h"
#include "attacks/row_distance.h"
#include "engine/engine.h"
#include "util/error.h"

namespace cascade::attacks {

int64_t GapAttackResult::total_candidates_tried() const {
  int64_t s = 0;
  for (const auto& st : steps) s += st.candidates_tried;
  return s;
}

namespace {

// One seen position's search: depth-first over the gap, a batch of
// candidates for the seen position at each complete filling.
class GapSearch {
 public:
  GapSearch(const Model& m, Engine& eng, CandidateRows& cand, const GapAttackOptions& opts)
      : m_(m), eng_(eng), cand_(cand), opts_(opts), V_(m.cfg.vocab_size) {
    if (!opts.vocabulary.empty()) {
      in_vocab_.assign(V_, false);
      for (int32_t t : opts.vocabulary) in_vocab_[t] = true;
    }
  }

  // eng_ is at position p = s − slots.size(); slots[k] is the known token of
  // position p+k or −1 when unknown. logits: after position p−1 (null at 0).
  void run(const std::vector<int32_t>& slots, const float* target, const float* logits_p, GapStep& step) {
    slots_ = slots;
    target_ = target;
    p_ = eng_.position();
    fill_.assign(slots.size(), -1);
    best_fill_.clear();
    best_tok_ = -1;
    best_d_ = std::numeric_limits<float>::infinity();
    step_ = &step;
    done_ = false;
    logits_.assign(slots.size() + 1, std::vector<float>(V_));
    have_logits_ = logits_p != nullptr;
    if (have_logits_) std::copy(logits_p, logits_p + V_, logits_[0].begin());
    descend(0);
    step.distance = best_d_;
  }

  const std::vector<int32_t>& best_fill() const { return best_fill_; }
  int32_t best_token() const { return best_tok_; }

 private:
  std::vector<int32_t> candidates(int depth) const {
    std::vector<int32_t> order = (opts_.model_order && (depth > 0 || have_logits_))
                                     ? order_by_logits(logits_[depth].data(), V_)
                                     : order_by_id(V_);
    if (!in_vocab_.empty())
      order.erase(std::remove_if(order.begin(), order.end(), [&](int32_t t) { return !in_vocab_[t]; }),
                  order.end());
    return order;
  }

  bool over_budget() const { return opts_.budget > 0 && step_->candidates_tried >= opts_.budget; }

  void descend(int depth) {
    if (done_) return;
    if (depth == (int)slots_.size()) return leaf(depth);
    std::vector<int32_t> toks = slots_[depth] >= 0 ? std::vector<int32_t>{slots_[depth]} : candidates(depth);
    for (int32_t t : toks) {
      if (done_) return;
      if (over_budget()) { step_->budget_exhausted = true; done_ = true; return; }
      eng_.truncate(p_ + depth);
      eng_.forward(&t, 1, logits_[depth + 1].data());
      ++step_->gap_steps;
      fill_[depth] = t;
      descend(depth + 1);
    }
  }

  void leaf(int depth) {
    const int dim = m_.cfg.dim;
    eng_.truncate(p_ + depth);
    std::vector<int32_t> order = candidates(depth);
    rows_.resize((size_t)opts_.batch * dim);
    for (size_t start = 0; start < order.size(); start += opts_.batch) {
      int n = (int)std::min<size_t>(opts_.batch, order.size() - start);
      if (opts_.budget > 0) n = (int)std::min<int64_t>(n, opts_.budget - step_->candidates_tried);
      if (n <= 0) { step_->budget_exhausted = true; done_ = true; return; }
      cand_.evaluate(eng_, order.data() + start, n, opts_.layer, rows_.data());
      step_->rows_computed += n;
      for (int t = 0; t < n; ++t) {
        ++step_->candidates_tried;
        const float d = l1_distance(rows_.data() + (size_t)t * dim, target_, dim);
        if (d < best_d_) best_d_ = d, best_fill_ = fill_, best_tok_ = order[start + t];
        if (d < opts_.epsilon && !opts_.exhaustive) {
          step_->matched = true;
          done_ = true;
          return;
        }
      }
    }
  }

  const Model& m_;
  Engine& eng_;
  CandidateRows& cand_;
  const GapAttackOptions& opts_;
  const int V_;
  std::vector<bool> in_vocab_;
  std::vector<int32_t> slots_, fill_, best_fill_;
  std::vector<std::vector<float>> logits_;  // [depth]: after the token before slot `depth`
  std::vector<float> rows_;
  const float* target_ = nullptr;
  int p_ = 0;
  int32_t best_tok_ = -1;
  float best_d_ = 0;
  bool have_logits_ = false, done_ = false;
  GapStep* step_ = nullptr;
};

}  // namespace

GapAttackResult gap_attack(const Model& m, const std::vector<int>& seen_positions,
                           const float* seen_rows, const std::vector<std::pair<int, int32_t>>& known,
                           int n_positions, const GapAttackOptions& opts) {
  check(std::is_sorted(seen_positions.begin(), seen_positions.end()), "gap_attack: seen positions must ascend");
  check(n_positions > 0 && n_positions <= m.cfg.context_length, "gap_attack: bad prompt length");
  const int V = m.cfg.vocab_size, dim = m.cfg.dim;
  const double Vc = opts.vocabulary.empty() ? V : (double)opts.vocabulary.size();
  std::map<int, int32_t> known_tok(known.begin(), known.end());
  GapAttackResult res;
  res.recovered.assign(n_positions, -1);
  for (auto [pos, tok] : known_tok)
    if (pos < n_positions) res.recovered[pos] = tok;

  Engine eng(m);
  CandidateRows cand(m);
  GapSearch search(m, eng, cand, opts);
  std::vector<float> logits(V);
  bool have_logits = false;
  int p = 0;  // positions [0, p) are resolved and in eng's KV cache
  for (size_t k = 0; k < seen_positions.size(); ++k) {
    const int s = seen_positions[k];
    check(s >= 0 && s < n_positions, "gap_attack: seen position outside the prompt");
    if (s < p || known_tok.count(s)) continue;  // already resolved or public
    std::vector<int32_t> slots;
    int gap = 0;
    for (int q = p; q < s; ++q) {
      auto it = known_tok.find(q);
      slots.push_back(it != known_tok.end() ? it->second : -1);
      gap += it == known_tok.end();
    }
    GapStep step;
    step.position = s;
    step.gap = gap;
    step.full_search = std::pow(Vc, gap + 1);
    search.run(slots, seen_rows + k * dim, have_logits ? logits.data() : nullptr, step);
    res.steps.push_back(step);
    // Adopt the best filling and token, and move the prefix to s+1.
    std::vector<int32_t> chosen = search.best_fill();
    chosen.resize(slots.size(), -1);
    chosen.push_back(search.best_token());
    if (search.best_token() < 0) break;  // budget ran out before any candidate: stop here
    for (size_t j = 0; j < chosen.size(); ++j) res.recovered[p + j] = chosen[j];
    eng.truncate(p);
    eng.forward(chosen.data(), (int)chosen.size(), logits.data());
    have_logits = true;
    p = s + 1;
  }
  // Known positions after the last seen one stay known; nothing else is learned.
  return res;
}

}  // namespace cascade::attacks
