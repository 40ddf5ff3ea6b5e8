#include "attacks/hidden_states.h"

#include <algorithm>

#include "engine/engine.h"
#include "util/error.h"

namespace cascade::attacks {

std::vector<float> HiddenStates::gather(int layer, const std::vector<int>& positions) const {
  std::vector<float> out((size_t)positions.size() * dim);
  for (size_t j = 0; j < positions.size(); ++j) {
    const float* r = row(layer, positions[j]);
    std::copy(r, r + dim, out.begin() + (ptrdiff_t)(j * dim));
  }
  return out;
}

HiddenStates capture_hidden_states(const Model& m, const std::vector<int32_t>& tokens) {
  check(!tokens.empty(), "capture_hidden_states: empty token list");
  HiddenStates hs;
  hs.n_layers = m.cfg.n_layers;
  hs.n_pos = (int)tokens.size();
  hs.dim = m.cfg.dim;
  hs.rows.assign(hs.n_layers + 1, std::vector<float>((size_t)hs.n_pos * hs.dim));
  Engine eng(m);
  // The observer sees rows in chunks (pos0, n); one forward gives one chunk
  // per layer, but copying by pos0 keeps this correct for any chunking.
  eng.set_observer([&](int layer, const float* h, int n, int pos0) {
    std::copy(h, h + (size_t)n * hs.dim, hs.rows[layer].begin() + (ptrdiff_t)pos0 * hs.dim);
  });
  eng.forward(tokens.data(), (int)tokens.size(), nullptr);
  return hs;
}

}  // namespace cascade::attacks
