// Context-free matching (protocol §2 (b)): at early layers a row is dominated
// by its own token, so an attacker can skip the unseen context altogether.
//
// For each vocabulary token the attacker computes the row it would have
// behind a GUESSED context, and labels an observed row with the token of the
// nearest such row. Guesses:
//   kAfterBos      the token right after BOS (position 1), whatever the
//                  observed row's true position;
//   kFillerPrefix  the token at the observed row's true position, behind
//                  BOS followed by a filler token repeated (the model's most
//                  likely token after BOS unless given).
// At layer 0 (the embedding) both are exact: embeddings carry no context.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "model/model.h"

namespace cascade::attacks {

enum class ContextGuess { kAfterBos, kFillerPrefix };
const char* context_guess_name(ContextGuess g);

struct ContextFreeOptions {
  int layer = 1;
  ContextGuess guess = ContextGuess::kFillerPrefix;
  int32_t bos = 1;
  int32_t filler = -1;  // −1: argmax of the model's logits after BOS
  bool cosine = false;  // false: L1
};

class ContextFreeMatcher {
 public:
  ContextFreeMatcher(const Model& m, const ContextFreeOptions& opts);

  // The token whose guessed-context row at `position` is nearest to `row`.
  int32_t recover(const float* row, int position);

  int32_t filler() const { return filler_; }

 private:
  const std::vector<float>& dictionary(int position);  // [V][dim], built once per position

  const Model& m_;
  ContextFreeOptions opts_;
  int32_t filler_ = -1;
  std::map<int, std::vector<float>> dict_;
};

}  // namespace cascade::attacks
