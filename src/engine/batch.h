// Continuous batching for the plaintext engine.
//
// One step of several sessions, each an Engine with its own KV cache: every
// block's row-wise halves (layer.h) run once over all the sessions' new rows
// — one GEMM per weight matrix for decode rows of many sessions and prefill
// chunks alike, so decode reads each weight once per step instead of once
// per session — and attention runs per session over its own cache. Sessions
// join and leave between steps: a step takes whichever engines it is given.
//
// A session's logits equal its unbatched Engine::forward within fp32
// rounding: the panel GEMM gives a row the same bits whatever rows share the
// call, but one decode row alone takes the GEMV, whose sum order differs.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/engine.h"

namespace cascade {

struct BatchItem {
  Engine* engine;          // distinct engines of the same Model
  const int32_t* tokens;   // this session's new tokens this step
  int n;                   // how many (≥ 1)
  float* logits_last;      // [vocab] logits of its last new row, or null
};

// Feeds every item's tokens at its engine's next positions, as forward()
// would. Throws Error (nothing changed) if an engine's context would
// overflow, n < 1, engines repeat or models differ. Hidden-state observers
// are not called.
void forward_batch(const std::vector<BatchItem>& items);

}  // namespace cascade
