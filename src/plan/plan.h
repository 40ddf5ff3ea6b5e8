// Plan — who handles which token position (protocol §3, §4).
//
// A plan is a pure function of the position, so prompt and generated
// positions follow the same rule and every party can compute it:
//
//   positions [0, head)            the client's own: the public prefix plus
//                                  the first `client_head` private positions,
//                                  which are cheap to vocab-match (no unseen
//                                  context before them). They never leave the
//                                  client; the client serves attention over
//                                  their keys itself.
//   positions p >= head, r = p - head:
//     CompNode    comp_of(p)  = (r / comp_block) mod α
//     attn shard  shard_of(p) = (r / attn_block) mod β
//
// AttnNode (a, b) receives q rows of shard a and k,v rows of shard b, so its
// view is S_a ∪ S_b. With attn_block = u (u = max(1, δ)) and β >= 3, every
// off-diagonal view has runs of at most 2u (two neighbouring blocks) and gaps
// of at least u (one foreign block between two of its blocks); a diagonal view
// has runs u and gaps (β-1)u. CompNode views have runs comp_block and gaps
// (α-1)·comp_block. The tests check these bounds on every view.
#pragma once

#include <climits>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "model/model.h"

namespace cascade {

// How attention results reach a CompNode (docs/PROTOCOL.md, docs/PRIVACY.md).
//   kPrivate (default): AttnNodes get masked q/k/v rows; the partials of a
//     query shard are merged by one AttnNode of that shard (the merger), and
//     the CompNode gets only the merged, masked output of its rows (kMerged),
//     no log-sum-exp: exactly the o_t its block needs.
//   kPaper: the published design. AttnNodes get q/k/v in the clear, and the
//     CompNode gets every shard's partial (O_b, LSE_b) and merges them; from
//     those a CompNode reads most of the prompt (docs/PRIVACY.md).
// Append-only: written in messages and manifests.
enum class Protocol : int32_t { kPrivate = 0, kPaper = 1 };
const char* protocol_name(Protocol p);    // "private", "paper"
Protocol parse_protocol(const std::string& s);  // throws Error naming the choices

struct PlanSpec {
  int alpha = 4;          // CompNodes
  int beta = 4;           // attention shards; β² AttnNodes
  int c = 6;              // max run a view may contain; 0 = no c-δ requirement
  int delta = 3;          // min gap between runs of a view
  int front_layers = 1;   // F: blocks the client runs itself on every row
  int public_prefix = 1;  // positions the attacker knows anyway (BOS, system prompt)
  int client_head = -1;   // private positions kept at the client; -1 = δ
  int horizon = 0;        // positions the views are computed over; 0 = model context
  Protocol protocol = Protocol::kPrivate;
};

// Append-only: written in messages.
enum class Role : int32_t { kClient = 0, kComp = 1, kAttn = 2 };

struct NodeId {
  Role role = Role::kClient;
  int32_t index = 0;  // CompNode r, or AttnNode a·β + b
  bool operator==(const NodeId& o) const { return role == o.role && index == o.index; }
  bool operator<(const NodeId& o) const {
    return role != o.role ? role < o.role : index < o.index;
  }
  std::string name(int beta) const;  // "client", "comp3", "attn(1,2)"
};

// Shape of a set of positions as the protocol measures it.
struct ViewStats {
  int count = 0;        // positions in the view (within the horizon)
  int first = -1;       // smallest position, -1 if empty
  int max_run = 0;      // longest run of consecutive positions
  int min_gap = 0;      // shortest gap between two runs (INT32_MAX if one run)
  int lead_gap = 0;     // unseen private positions before the first one
};

// What a row carries, for Plan::allows.
enum class RowKind {
  kHidden,   // a block's input row h (client -> CompNode)
  kQuery,    // a q row (CompNode -> AttnNode)
  kKeyValue, // a k row and its v row (CompNode -> AttnNode)
  kPartial,  // a partial attention output and its log-sum-exp
  kMerged,   // a merged attention output (private protocol, merger -> CompNode)
};

class Plan {
 public:
  // Builds and checks a plan. Throws Error naming the view that is not c-δ
  // and the α, β (or c, δ) that would work.
  static Plan make(const PlanSpec& spec, const ModelConfig& cfg);

  static constexpr int kClientOwned = -1;
  // Largest c, delta, public prefix, client head and horizon make accepts
  // (validate_config's longest context), so that position sums stay ints.
  static constexpr int kMaxPositions = 1 << 20;
  // pattern_window() is cut here (it is only ever compared with positions).
  static constexpr int kMaxWindow = 1 << 30;
  // Most view positions make tests for the c-delta check (nodes x window).
  static constexpr int64_t kMaxCheckWork = int64_t{1} << 26;

  const PlanSpec& spec() const { return spec_; }
  int alpha() const { return spec_.alpha; }
  int beta() const { return spec_.beta; }
  int front_layers() const { return spec_.front_layers; }
  int head() const { return head_; }  // positions < head stay at the client
  int comp_block() const { return comp_block_; }
  int attn_block() const { return attn_block_; }
  int horizon() const { return horizon_; }
  int n_attn() const { return spec_.beta * spec_.beta; }
  Protocol protocol() const { return spec_.protocol; }
  bool is_private() const { return spec_.protocol == Protocol::kPrivate; }

  int comp_of(int pos) const;   // CompNode index, or kClientOwned
  int shard_of(int pos) const;  // attention shard, or kClientOwned
  NodeId attn_node(int a, int b) const { return {Role::kAttn, a * spec_.beta + b}; }
  int attn_q_shard(int index) const { return index / spec_.beta; }
  int attn_kv_shard(int index) const { return index % spec_.beta; }
  // Private protocol: the AttnNode that merges query shard a's partials in
  // `layer`, (a, (a + layer) mod β), so merging rotates over the row's nodes.
  NodeId merger(int a, int layer) const { return attn_node(a, (a + layer) % spec_.beta); }

  // May `node` receive the `kind` row of `pos`? The one rule every receiver
  // enforces. Paper protocol: a CompNode takes the partials of its rows.
  // Private protocol: it takes only merged outputs, and an AttnNode takes
  // partials of its query shard (as the merger).
  bool allows(const NodeId& node, RowKind kind, int pos) const;

  // Every position whose row `node` receives, within the horizon (or below
  // `end`, when that is sooner).
  std::vector<int> view(const NodeId& node, int end = INT_MAX) const;
  // Views repeat with this period after the head: positions [head, head +
  // pattern_window()) show every run and gap a view has (and a run longer
  // than c, if the view has one), so c-δ checks need look no further.
  // At most kMaxWindow.
  int pattern_window() const;
  ViewStats stats(const std::vector<int>& positions) const;
  std::vector<NodeId> nodes() const;  // all CompNodes then all AttnNodes

  // Worst union of k views: longest run, then smallest gap, then most
  // positions (a union covering everything is the worst there is).
  struct Coalition {
    std::vector<NodeId> members;
    ViewStats stats;
  };
  Coalition worst_coalition(int k) const;

  nlohmann::json to_json(int max_coalition = 2) const;
  std::string table() const;

 private:
  PlanSpec spec_;
  int head_ = 0;
  int comp_block_ = 1;
  int attn_block_ = 1;
  int horizon_ = 0;
};

}  // namespace cascade
