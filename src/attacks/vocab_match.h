// Vocab-matching attack (protocol §2) on a full sequence of observed rows.
//
// Greedy over positions i = 0..N−1: candidates are all vocabulary tokens,
// most likely first under the model's own next-token distribution given the
// recovered prefix (token-id order at i = 0, where there is no prefix). Each
// batch of candidates is evaluated at position i behind the recovered
// prefix's KV cache (CandidateRows); the first candidate whose distance is
// under ε is accepted, else after the whole vocabulary (or the budget) the
// nearest one. Then the prefix is extended by the accepted token.
//
// What the attacker is given, per variant:
//   kPlain         rows in position order.
//   kRowsShuffled  rows in an unknown order: each candidate is compared with
//                  every not-yet-used observed row; acceptance uses that row.
//   kDimsPermuted  each row's coordinates permuted by an unknown per-row
//                  permutation: rows are compared as sorted coordinate
//                  vectors (L1 of sorted vectors is permutation-invariant).
//   kBoth          both at once.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "attacks/hidden_states.h"
#include "model/model.h"

namespace cascade::attacks {

enum class Disguise { kPlain, kRowsShuffled, kDimsPermuted, kBoth };

const char* disguise_name(Disguise d);
inline bool shuffles_rows(Disguise d) { return d == Disguise::kRowsShuffled || d == Disguise::kBoth; }
inline bool permutes_dims(Disguise d) { return d == Disguise::kDimsPermuted || d == Disguise::kBoth; }

// The rows of `layer` as a permutation scheme would hand them out: rows in a
// seeded random order and/or each row's coordinates in its own seeded random
// order. [N][dim].
std::vector<float> disguise_rows(const HiddenStates& hs, int layer, Disguise d, uint64_t seed);

struct VocabMatchOptions {
  int layer = 1;
  float epsilon = 0;            // acceptance threshold (calibrate_epsilon)
  Disguise disguise = Disguise::kPlain;
  int batch = 128;              // candidates evaluated per batched pass
  int budget = 0;               // max candidates per position; 0 = whole vocabulary
  bool model_order = true;      // false: token-id order (an attacker with no prior)
};

struct VocabMatchResult {
  std::vector<int32_t> recovered;    // [N]
  std::vector<int> rank;             // [N] 1-based rank of the accepted candidate in the
                                     // candidate order = candidates a one-at-a-time attacker evaluates
  std::vector<int> rows_evaluated;   // [N] candidate rows actually computed (whole batches)
  std::vector<float> distance;       // [N] distance of the accepted candidate
  std::vector<bool> under_epsilon;   // [N] accepted by threshold (false: nearest fallback)

  int n_correct(const std::vector<int32_t>& truth) const;
  double accuracy(const std::vector<int32_t>& truth) const;
  double mean_rank() const;
};

// observed: [n_rows][dim] rows of `opts.layer`, disguised as opts.disguise says.
VocabMatchResult vocab_match(const Model& m, const float* observed, int n_rows,
                             const VocabMatchOptions& opts);

// ε from held-out prompts, for one layer and disguise. For every position i
// of every prompt, all V candidates are evaluated behind the TRUE prefix
// (which is where a successful attack stands) and compared with the rows the
// attack would compare them with: row i (plain), or every row j >= i, the
// rows still unused when positions < i were matched correctly (shuffled);
// as sorted vectors when dimensions are permuted. True match: candidate
// tok[i] vs row i. Wrong: every other (candidate, row) pair, including the
// right token against another position's row. ε = (max true + min wrong) / 2.
struct EpsilonCalibration {
  float max_true = 0;    // largest true-match distance seen
  float min_wrong = 0;   // smallest wrong-candidate distance seen
  float epsilon = 0;
  bool separable = false;  // max_true < min_wrong
  int n_prompts = 0;
};
EpsilonCalibration calibrate_epsilon(const Model& m, const std::vector<std::vector<int32_t>>& heldout,
                                     int layer, Disguise disguise);

}  // namespace cascade::attacks
