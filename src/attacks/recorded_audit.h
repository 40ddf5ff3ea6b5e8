// The audit of recorded sessions: every role attacked on exactly what it
// received (MessageRecorder), and coalitions of up to 3 on their pooled views.
//
// Per session (a prompt, maybe with generated tokens, and its recording):
//   CompNode r   "partial"           partial_attack on its attention results and its own rows,
//                                    candidates in the model's order (the prior);
//                "partial_no_prior"  the same in token-id order;
//                "rows_only"         its q, k, v rows and h^F alone, without the attention output:
//                                    a weaker reference than any real CompNode, which must hold o_t;
//                "own_rows"          its own rows at every block, o_t included, solved from the
//                                    residuals (h_mid − h = W_o·o_t + b_o; own_rows.h): what
//                                    computing its rows alone tells it, whatever the messages;
//   AttnNode     "rows"              paper: its q, k, v rows at every block (partial_attack with rows only);
//                "masked_scores"     private: masked_attn_attack on the scores its masked rows give;
//   coalitions   "joint"             partial_attack on the members' views concatenated. Private
//                                    protocol: a coalition with a CompNode holds the secret and
//                                    unmasks its AttnNodes' rows and partials (private_views.h);
//                                    one of AttnNodes only pools its members' masked_scores hits.
// Coalitions: the plan's structurally worst of each size (Plan::worst_coalition),
// and the ones whose members' single results cover the most private
// positions together (best pairs; those pairs extended by the best third
// member), attacked jointly.
//
// Baselines (no view at all): "prior_greedy", greedy decoding from the known
// positions, which is what a role learns with nothing; "prior_teacher_forced",
// the top-1 guess behind the true prefix, a reference no role without rows reaches.
//
// Figures, per attack: private tokens recovered (positions ≥ the public
// prefix), of which the client head [public prefix, head), the canary
// tokens, and the positions the role has anything about (covered).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "attacks/recorded_views.h"
#include "model/model.h"
#include "nodes/message.h"

namespace cascade::attacks {

struct AuditSession {
  std::vector<int32_t> tokens;    // the truth: prompt, then generated tokens
  std::vector<Message> messages;  // every message delivered in the session
  std::vector<int> canary;        // positions of planted secret tokens (may be empty)
  std::string secret;             // private protocol: the session's mask secret (CompNodes hold it)
};

// Turns a CompNode's inbox into what it learned; paper_comp_view by default,
// another protocol's converter for that protocol.
using CompConverter =
    std::function<CompNodeView(const Model&, const Plan&, const std::vector<Message>&, int comp)>;

// Turns an AttnNode's inbox into the rows it learned; attn_rows by default.
using AttnConverter =
    std::function<std::vector<RowObservation>(const Model&, const Plan&, const std::vector<Message>&, int attn)>;

struct RecordedAuditOptions {
  int64_t budget = 0;          // candidates per position; 0 = the whole vocabulary
  bool no_prior = true;        // also "partial_no_prior" for CompNodes
  int max_coalition = 3;       // 1: no coalitions
  int result_pairs = 3;        // coalitions of 2 picked by results
  int result_triples = 2;      // coalitions of 3 picked by results
  bool comp_only = false;      // audit CompNodes (and coalitions of them) only
  CompConverter comp_converter;  // empty: paper_comp_view
  AttnConverter attn_converter;  // empty: attn_rows
};

struct AttackTally {
  std::string attack;
  int64_t private_positions = 0, recovered = 0;
  int64_t head_positions = 0, head_recovered = 0;
  int64_t canary_positions = 0, canary_recovered = 0;
  int64_t covered_positions = 0, covered_recovered = 0;
  int64_t candidates_tried = 0;
  double seconds = 0;
  double fraction() const { return private_positions ? (double)recovered / private_positions : 0; }
  double head_fraction() const { return head_positions ? (double)head_recovered / head_positions : 0; }
  double canary_fraction() const { return canary_positions ? (double)canary_recovered / canary_positions : 0; }
  double covered_fraction() const {
    return private_positions ? (double)covered_positions / private_positions : 0;
  }
};

struct RecordedParty {
  std::string name;                  // "comp0", "attn(1,2)", "comp0+attn(0,3)"
  std::vector<NodeId> members;
  std::string chosen_by;             // "node", "structure", "results"
  std::vector<AttackTally> attacks;  // the first is the one coalitions are picked by
};

struct RecordedAuditReport {
  int n_sessions = 0;
  int64_t private_positions = 0;
  std::vector<AttackTally> baselines;  // "prior_greedy", "prior_teacher_forced"
  std::vector<RecordedParty> parties;     // nodes (CompNodes, then AttnNodes), then coalitions
};

// progress(stage, done, total), per session: stage "nodes", then "coalitions".
// Parties run side by side on OpenMP threads (OMP_NUM_THREADS); results do
// not depend on the thread count.
RecordedAuditReport audit_recorded(const Model& m, const Plan& plan, const std::vector<AuditSession>& sessions,
                                   const RecordedAuditOptions& opts,
                                   const std::function<void(const std::string&, int, int)>& progress = {});

nlohmann::json to_json(const RecordedAuditReport& r);
// A markdown table: one row per party and attack, with the excess over prior_greedy.
std::string to_table(const RecordedAuditReport& r);

}  // namespace cascade::attacks
