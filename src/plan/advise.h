// Plan advice — which α, β, c, δ, F and client head meet a target exposure.
//
// Exposure is a view share: the fraction of private positions (past the
// client's head) whose rows one node, or the worst pair of nodes, receives.
// It is a floor, not what a node recovers: the model's prior and a CompNode's
// merged attention outputs fill in gaps (docs/PRIVACY.md measures both; run
// `cascade audit` on the plan chosen). The client's share of the compute is
// F/L of every token's block work, plus all of it for the head positions.
#pragma once

#include <vector>

#include "model/model.h"
#include "plan/plan.h"

namespace cascade {

struct PlanAdvice {
  PlanSpec spec;
  int nodes = 0;                 // α + β²
  int head = 0;                  // positions the client keeps (Plan::head)
  double single_exposure = 0;    // worst single node's view share
  double pair_exposure = 0;      // worst coalition of 2
  double client_share = 0;       // client's share of block compute for a `prompt`-token request
};

// Plans whose worst single node sees at most `target` of the positions,
// fewest nodes first (then lowest pair exposure), at most `top` of them.
// Searches α in 2..16, β in 3..8, δ in 1..4 with c = 2δ, F = `front`, client
// head δ, within `max_nodes`. Throws Error when none fits, naming the
// smallest exposure reachable within the node budget.
std::vector<PlanAdvice> advise_plans(const ModelConfig& cfg, double target, int max_nodes, int front, int prompt,
                                     int top = 5);

}  // namespace cascade
