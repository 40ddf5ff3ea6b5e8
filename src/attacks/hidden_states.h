// Hidden-state capture: what a party that receives residual rows observes.
//
// h^ℓ is the residual stream after ℓ blocks (ℓ = 0 is the embedding, ℓ = L
// the last block's output), one row of `dim` floats per position. The rows
// come from Engine::set_observer on one plaintext forward, so they are
// exactly what the engine (and every Cascade role) computes.
#pragma once

#include <cstdint>
#include <vector>

#include "model/model.h"

namespace cascade::attacks {

struct HiddenStates {
  int n_layers = 0;  // L; layers 0..L are stored
  int n_pos = 0;     // N
  int dim = 0;
  std::vector<std::vector<float>> rows;  // [L+1][N*dim]

  const float* row(int layer, int pos) const {
    return rows[layer].data() + (size_t)pos * dim;
  }
  // The rows of one layer at the given positions, in that order ([n][dim]).
  std::vector<float> gather(int layer, const std::vector<int>& positions) const;
};

// Runs `tokens` through a fresh engine in one batched forward and records
// h^0..h^L for every position.
HiddenStates capture_hidden_states(const Model& m, const std::vector<int32_t>& tokens);

}  // namespace cascade::attacks
