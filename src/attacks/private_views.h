// What a CompNode learns under the private protocol, from its inbox.
//
// Per own row t and block ℓ ≥ F it gets one kMerged message: the merged
// attention output o_t over every key s ≤ t, masked with the shard's P. It
// holds the session secret and unmasks it: one AttnObservation with key_pos =
// {s ≤ t} and no log-sum-exp (`normalized`). That is what its block needs
// anyway (h_mid − h = W_o·o_t), so this view is the row-only one: own rows at
// every block, o_t included. Rows are replayed as for the paper protocol
// (recorded_views.h).
#pragma once

#include <string>
#include <vector>

#include "attacks/recorded_views.h"
#include "model/model.h"
#include "nodes/message.h"
#include "plan/plan.h"

namespace cascade::attacks {

// `secret`: the session's mask secret (every CompNode of the session holds
// it). Throws Error on messages that do not fit the plan or the model.
CompNodeView private_comp_view(const Model& m, const Plan& plan, const std::vector<Message>& received, int comp,
                               const std::string& secret);

// What AttnNode `attn` learns under the private protocol when it pools its
// inbox with a CompNode of the session, which holds the secret: its q, k, v
// rows in the clear, and, in the blocks it merges, every other shard's
// partial (and the client's) for the rows of its query shard, unmasked. The
// coalitions that break masking (docs/PRIVACY.md).
ReceivedView unmasked_attn_view(const Model& m, const Plan& plan, const std::vector<Message>& received, int attn,
                                const std::string& secret);

}  // namespace cascade::attacks
