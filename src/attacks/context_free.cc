#include "attacks/context_free.h"

#include <limits>

#include "attacks/candidate_rows.h"
#include "attacks/row_distance.h"
#include "engine/engine.h"
#include "kernels/kernels.h"
#include "util/error.h"

namespace cascade::attacks {

const char* context_guess_name(ContextGuess g) {
  return g == ContextGuess::kAfterBos ? "after_bos" : "filler_prefix";
}

ContextFreeMatcher::ContextFreeMatcher(const Model& m, const ContextFreeOptions& opts)
    : m_(m), opts_(opts), filler_(opts.filler) {
  check(opts.bos >= 0 && opts.bos < m.cfg.vocab_size, "context-free attack: BOS id out of range");
  if (filler_ < 0) {
    Engine eng(m);
    std::vector<float> logits(m.cfg.vocab_size);
    eng.forward(&opts.bos, 1, logits.data());
    filler_ = argmax(logits.data(), m.cfg.vocab_size);
  }
}

const std::vector<float>& ContextFreeMatcher::dictionary(int position) {
  const int at = opts_.guess == ContextGuess::kAfterBos ? 1 : position;
  auto it = dict_.find(at);
  if (it != dict_.end()) return it->second;
  std::vector<int32_t> prefix;
  if (at > 0) prefix.push_back(opts_.bos);
  while ((int)prefix.size() < at) prefix.push_back(filler_);
  Engine eng(m_);
  if (!prefix.empty()) eng.forward(prefix.data(), (int)prefix.size(), nullptr);
  const int V = m_.cfg.vocab_size;
  std::vector<float> rows((size_t)V * m_.cfg.dim);
  CandidateRows cand(m_);
  std::vector<int32_t> all = order_by_id(V);
  cand.evaluate(eng, all.data(), V, opts_.layer, rows.data());
  return dict_.emplace(at, std::move(rows)).first->second;
}

int32_t ContextFreeMatcher::recover(const float* row, int position) {
  const std::vector<float>& dict = dictionary(position);
  const int V = m_.cfg.vocab_size, dim = m_.cfg.dim;
  float best = std::numeric_limits<float>::infinity();
  int32_t tok = -1;
  for (int v = 0; v < V; ++v) {
    const float* r = dict.data() + (size_t)v * dim;
    const float d = opts_.cosine ? cosine_distance(r, row, dim) : l1_distance(r, row, dim);
    if (d < best) best = d, tok = v;
  }
  return tok;
}

}  // namespace cascade::attacks
