// What a role learns, converted from the messages it received in a session
// (MessageRecorder::received_by) into the attacks' inputs.
//
// The attack (partial_attack.h) never looks at message layouts: a protocol
// needs only a converter to AttnObservations and RowObservations. The ones here are for the paper protocol (the published
// design, today's code):
//   * a CompNode gets, per own row t and block ℓ ≥ F, one kPartial from each
//     AttnNode (a, b) with a = shard(t): its keys are {s in shard b, s ≤ t};
//     and one from the client: keys {s < head, s ≤ t}. A partial with no
//     visible key (lse = −∞) says nothing and is dropped;
//   * its own rows are replayed as the node computes them (h^F as received;
//     q, k, v by block_qkv; the merge of what it received; block_finish), so
//     the attacker's q_t is exactly the node's;
//   * an AttnNode gets q rows of shard a and k, v rows of shard b at every
//     block (kAttnRows), or k, v of all blocks at once (kCacheRows).
#pragma once

#include <functional>
#include <map>
#include <utility>
#include <vector>

#include "attacks/observations.h"
#include "nodes/message.h"

namespace cascade::attacks {

struct CompNodeView {
  std::vector<int> own_positions;  // ascending
  ReceivedView view;               // every attention result it learned; its own rows:
                                   // h^F as received, q, k, v of every block
  std::vector<AttnObservation> own_row_attn;  // o_t of each own row and block solved from
                                   // its residual rows (own_rows.h), as normalized
                                   // observations: what computing its rows alone tells it
  int n_positions = 0;             // positions of the session (the last step's end)
};

// The row-wise replay a CompNode does for the rows of one step: block_qkv
// on h (the h^F rows, replaced by the output of the last block), then
// attend(layer, q, k, v, o) fills the merged attention output o [n][q_dim]
// from what the node received, then block_finish. Calls rows(layer, q, k, v)
// after each block_qkv and residual(layer, h, h_mid) after the attention
// output is added (h_mid = h + W_o·o + b_o), for blocks [F, L). A
// private-mode converter calls it with its own attend().
void replay_comp_rows(const Model& m, int first_layer, const std::vector<int32_t>& pos, std::vector<float>& h,
                      const std::function<void(int layer, const float* q, const float* k, const float* v, float* o)>& attend,
                      const std::function<void(int layer, const float* q, const float* k, const float* v)>& rows,
                      const std::function<void(int layer, const float* h, const float* h_mid)>& residual = {});

// A CompNode's view of a session, for any protocol: its inbox is split into
// h^F rows per step and attention results (`result_type` messages, row_width
// and lse_width floats per row) per (step, block); for each step the node's
// own positions and h^F rows are recorded, its rows are replayed through
// every block (replay_comp_rows) with `attend` filling o from the step's
// results of that block (row_of: position → row; attend also records the
// AttnObservations), and the q, k, v rows are recorded, as are the
// observations its residual rows imply (own_row_attn). Throws Error on a
// message of another kind or size, or a block with no results.
using StepAttend = std::function<void(const std::vector<const Message*>& results, const std::map<int32_t, int>& row_of,
                                      int layer, const float* q, const float* k, const float* v, float* o,
                                      std::vector<AttnObservation>& obs)>;
CompNodeView comp_view(const Model& m, const Plan& plan, const std::vector<Message>& received, int comp,
                       MsgType result_type, size_t row_width, size_t lse_width, const StepAttend& attend);

// Paper protocol. `received`: the node's inbox, in delivery order. Throws
// Error on messages that do not fit the plan or the model.
CompNodeView paper_comp_view(const Model& m, const Plan& plan, const std::vector<Message>& received, int comp);

// The results of one row and block merged into one (exactly, as
// attention_merge: lse = log Σ e^{lse_i}, out weighted by e^{lse_i − lse}),
// over the union of their keys. What a CompNode that gets only its rows'
// merged attention output and LSE over all keys (or over all but its own,
// which it can add or remove itself) learns.
std::vector<AttnObservation> merge_observations(const std::vector<AttnObservation>& obs);

// Every q, k, v row an AttnNode received (any protocol that sends rows as kAttnRows / kCacheRows).
std::vector<RowObservation> attn_rows(const Model& m, const Plan& plan, const std::vector<Message>& received);

}  // namespace cascade::attacks
