// The no-view baselines: what the model's prior alone recovers, with no rows.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "model/model.h"

namespace cascade::attacks {

// The no-view baselines on one prompt: greedy decoding from the known
// positions with no rows at all (what a node with nothing learns), and
// teacher-forced top-1 (each position guessed behind the TRUE prefix: an
// upper reference no node without rows can reach). Known positions are taken as given.
struct PriorBaseline {
  std::vector<int32_t> greedy, teacher_forced;  // [n]
};
PriorBaseline prior_baseline(const Model& m, const std::vector<int32_t>& truth,
                             const std::vector<std::pair<int, int32_t>>& known);

}  // namespace cascade::attacks
