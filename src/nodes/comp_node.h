// CompNode — the row-wise work of blocks [F, L) for the positions it owns.
//
// Per step and block: block_qkv on its rows, q rows to the β AttnNodes
// (shard(t), b) and k,v rows to the β AttnNodes (a, shard(t)) (and q rows to
// the client when the client keeps a head of positions), then:
//   paper protocol: the exact merge of the β (+1) partials per row;
//   private protocol: rows go masked (nodes/attn_mask.h), and one merged
//     output per row (no log-sum-exp) comes back from the shard's merger
//     AttnNode, which the node unmasks;
// then block_finish, next block. An
// AttnNode that no position of the step queries gets its k,v rows of every
// block in one kCacheRows message after the last block instead. After the
// last block it returns the last position's row (or all, on request) to the
// client. It receives nothing but its own rows: every arriving row is checked
// against the plan, and anything else is an Error.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/layer.h"
#include "nodes/attn_mask.h"
#include "nodes/message.h"
#include "nodes/role.h"

namespace cascade {

class CompNode : public NodeRole {
 public:
  // `secret` is the session's mask secret from the client; the private
  // protocol needs it (Error otherwise), the paper protocol ignores it.
  CompNode(const Model& model, const Plan& plan, int index, uint64_t session = 0, std::string secret = {});

  // Handles kHidden (starts a step) and kPartial (paper) or kMerged (private). Throws Error on a message
  // the plan does not allow or that does not fit the step.
  // Takes the message by value so its row buffers move instead of copying.
  void handle(Message m, Outbox& out) override;

  const RoleStats& stats() const override { return stats_; }
  NodeId id() const override { return self_; }
  // Bytes of session state it holds now (the step's row buffers, partials,
  // cache rows being gathered): what node limits check.
  int64_t held_bytes() const override;

 private:
  // The plan's checks: sender, kind, size and positions. Throws Error.
  void admit(const Message& m);
  // The state machine: a step starts with the hidden rows; each block sends
  // q,k,v rows out and finishes when every attention output is in.
  void on_hidden(Message m, Outbox& out);
  void on_attention(const Message& m, Outbox& out);
  void take_partial(const Message& m);  // paper: one slot's partial
  void start_block(Outbox& out);
  void finish_block(Outbox& out);
  void send(Message m, Outbox& out);
  // Appends rows `idx` of `src` ([rows][width]) to `dst`.
  static void gather(const std::vector<float>& src, const std::vector<int>& idx, size_t width, std::vector<float>& dst);
  // The k,v rows `idx` into m.k, m.v, masked for AttnNode (a, b) when private.
  void add_kv(Message& m, int a, int b, const std::vector<int>& idx);
  void take_merged(const Message& m);  // private: unmask into merged_

  const Model& model_;
  const Plan& plan_;
  NodeId self_;
  uint64_t session_;
  RoleStats stats_;
  RowScratch scratch_;

  // The step in flight.
  int32_t step_ = -1;
  int32_t flags_ = 0;
  int32_t pos_end_ = 0;
  int layer_ = 0;
  std::vector<int32_t> mine_;          // my positions, ascending
  std::vector<bool> step_has_queries_;  // per shard: some position of the step is in it
  std::map<int, Message> cache_rows_;  // AttnNode index → its kCacheRows, filled per block
  std::map<int32_t, int> row_of_;      // position → row index in mine_
  std::vector<float> h_, q_, k_, v_;   // [rows][...]
  int n_slots_ = 0;                    // β key shards (+1 for the client)
  std::vector<std::vector<float>> slot_out_, slot_lse_;  // per slot [rows][...]
  int partials_expected_ = 0, partials_got_ = 0;
  std::vector<float> merged_;
  // Private protocol only.
  std::unique_ptr<AttnMask> mask_;
  std::vector<float> alpha_;  // [rows][n_heads] score shifts of this block
  std::vector<float> tmp_, tmp2_;
};

}  // namespace cascade
