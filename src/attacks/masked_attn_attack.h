// The attack on what a masked AttnNode receives (private protocol).
//
// AttnNode (a, b) holds masked rows q'_t (t in shard a) and k'_s (s in shard
// b) at every block ≥ F, under masks it does not know (nodes/attn_mask.h).
// What survives masking is every score it can form:
//
//   σ(t, s, h) = q'_t·k'_s / √hd' = q_t·k_s / √hd + α(t, h)
//
// with α unknown per row, block and head; so, per query, the differences of
// its scores across keys are exact invariants (including its own key when the
// node is diagonal: the node skips it in the protocol, but can still form it).
// The attack:
//   1. start from the prior: greedy decoding from the known positions;
//   2. sweep over the positions the node sees, in order; at each, try the
//      current guess and the prior's top `top_k` next tokens behind the guess,
//      compute each candidate's clear q and k at every block (the model is
//      public), and keep the one whose score differences best match the
//      observed ones, as a query against its keys and as a key for later
//      queries (least squares after removing each query's best shift);
//   3. re-guess the positions it does not see by the prior behind the new
//      guess, recompute every row, and sweep again.
// It reads only the messages the node received; the same code attacks the
// paper protocol's clear rows (there α = 0 and hd' = hd, so scores are exact).
#pragma once

#include <cstdint>
#include <vector>

#include "model/model.h"
#include "nodes/message.h"
#include "plan/plan.h"

namespace cascade::attacks {

struct MaskedAttnOptions {
  int top_k = 16;   // prior candidates per seen position and sweep
  int sweeps = 2;
};

struct MaskedAttnResult {
  std::vector<int32_t> guess;      // a token for every position of the session
  std::vector<int32_t> prior;      // the step-1 guess (the prior alone)
  std::vector<int> seen;           // positions whose q or k rows the node got
  int64_t candidates_tried = 0;
};

// `received`: the node's inbox in delivery order (kStepBegin, kAttnRows,
// kCacheRows, and as a merger kPartial, which this attack does not use).
// `known`: tokens the attacker knows (the public prefix), -1 elsewhere; its
// size is the session's length. Throws Error on rows that do not fit the model.
MaskedAttnResult masked_attn_attack(const Model& m, const Plan& plan, int attn_index,
                                    const std::vector<Message>& received, const std::vector<int32_t>& known,
                                    const MaskedAttnOptions& opt = {});

}  // namespace cascade::attacks
