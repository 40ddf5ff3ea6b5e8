// Client — the trusted party: holds the tokens, runs the ends of the model.
//
// Per step (a batch of new positions: the prompt, or one generated token) it
//   * embeds the tokens and runs the first F blocks on every row itself,
//   * runs all blocks itself for positions below plan.head() (the public
//     prefix and the first private positions, which nodes must not see),
//   * sends each CompNode the h^F rows of its positions, and tells each
//     AttnNode with work the step's positions (kStepBegin),
//   * serves partial attention over its head keys to CompNodes that ask
//     (private protocol: masked, to the query shard's merger AttnNode),
//   * takes the final rows back, and computes logits (final norm + LM head)
//     on the last row only, unless asked for all. Sampling is the caller's.
// Token ids and logits never leave it.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "nodes/attn_mask.h"
#include "nodes/message.h"
#include "nodes/role.h"

namespace cascade {

class Client : public NodeRole {
 public:
  // Draws the session's mask secret when the plan is private.
  Client(const Model& model, const Plan& plan, uint64_t session = 0);

  // Private protocol: the 32-byte secret every CompNode of the session needs
  // (and no AttnNode may get). Empty for the paper protocol.
  const std::string& session_secret() const { return secret_; }

  // Starts a step for `tokens` at the next n positions; sends its messages.
  void begin_step(const int32_t* tokens, int n, bool want_all_rows, Outbox& out);
  // Handles kAttnRows (q rows to attend over the head) and kFinal.
  void handle(Message m, Outbox& out) override;
  // True when every final row of the step has arrived and logits are ready.
  bool step_done() const { return finals_left_ == 0; }

  // Logits after the step: [vocab] for the last row, or [n][vocab] when all
  // rows were asked for.
  const std::vector<float>& logits() const { return logits_; }
  int position() const { return n_pos_; }
  const RoleStats& stats() const override { return stats_; }
  NodeId id() const override { return {Role::kClient, 0}; }
  // CompNodes and AttnNodes that have work in positions [begin, end).
  std::vector<NodeId> nodes_with_work(int begin, int end) const;

 private:
  // The plan's checks: sender, step, size and positions. Throws Error.
  void admit(const Message& m) const;
  // The state machine: attention over the head for CompNodes that ask, then
  // the step ends when every final row is in.
  void on_attn_rows(const Message& m, Outbox& out);
  void on_final(const Message& m);
  void finish_step();
  void send(Message m, Outbox& out);

  const Model& model_;
  const Plan& plan_;
  uint64_t session_;
  RoleStats stats_;
  Engine front_;  // blocks [0, F) on every position
  Engine head_;   // blocks [F, L) on positions below plan.head()
  RowScratch scratch_;
  int n_pos_ = 0;
  int32_t step_ = -1;
  bool want_all_ = false;
  int step_begin_ = 0, step_end_ = 0;
  int finals_left_ = 0;
  std::map<int32_t, std::vector<float>> final_rows_;  // position → h^L row
  std::vector<int32_t> head_pos_;
  std::vector<float> logits_;
  std::string secret_;
  std::unique_ptr<AttnMask> mask_;
};

}  // namespace cascade
