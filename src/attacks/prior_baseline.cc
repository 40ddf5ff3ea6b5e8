#include "attacks/prior_baseline.h"

#include "engine/engine.h"
#include "kernels/kernels.h"

namespace cascade::attacks {

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
