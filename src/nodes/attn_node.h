// AttnNode (a, b) — partial attention of shard a's queries over shard b's keys.
//
// It holds no weights. Per block it keeps the k,v rows of shard b it has
// received as its KV cache (growing during generation), and for every q row
// of shard a returns the partial output and log-sum-exp over its keys
// (kernels.h: attention_partial) to the CompNode that owns the row.
// It learns the new positions of a step from kStepBegin, so it knows which
// CompNodes will send rows; each block completes when all of them have. In a
// step with no queries for it, each sender's rows of every block come at the
// step's end in one kCacheRows message.
//
// Private protocol: rows arrive masked and one coordinate wider per head
// (nodes/attn_mask.h), and instead of replying to CompNodes, each node sends
// its partial to the query shard's merger for the block (Plan::merger). The
// merger merges the β partials (and the client's, over its head keys) of
// every row and sends each CompNode one kMerged message with the merged
// output of its rows, without the log-sum-exp.
#pragma once

#include <deque>
#include <map>
#include <set>
#include <vector>

#include "nodes/message.h"
#include "nodes/role.h"

namespace cascade {

class AttnNode : public NodeRole {
 public:
  AttnNode(const ModelConfig& cfg, const Plan& plan, int index, uint64_t session = 0);

  // Handles kStepBegin, kAttnRows, kCacheRows and (private, as a merger) kPartial. Throws Error on a row the plan does not
  // allow, a sender that has no rows in this step, or a malformed message.
  // Takes the message by value so its row buffers move instead of copying.
  void handle(Message m, Outbox& out) override;

  const RoleStats& stats() const override { return stats_; }
  NodeId id() const override { return self_; }
  int cached_keys(int layer) const { return (int)cache_[layer].pos.size(); }
  // Bytes of session state it holds now (its KV cache, rows waiting for
  // their block, partials being merged): what node limits check.
  int64_t held_bytes() const override;

 private:
  struct Pending {  // one block of one step, as rows arrive
    bool begun = false;         // kStepBegin seen: `expected` is known
    std::set<NodeId> expected;  // CompNodes with rows for this node in the step
    MsgType rows_type = MsgType::kAttnRows;  // kCacheRows when no position queries it
    std::vector<Message> msgs;
  };
  struct Cache {  // one block's keys and values of shard b
    std::vector<int32_t> pos;
    std::vector<float> k, v;
  };
  struct Merge {  // private, as merger: one block of one step
    bool own = false;                            // own partial in: rows known
    std::vector<int32_t> pos;                    // the step's q rows
    std::map<int32_t, int> row_of;               // position → row
    std::vector<std::vector<float>> out, lse;    // per slot (kv shard b; β: client) [rows][...]
    std::vector<std::vector<char>> filled;       // per slot [rows]
    int filled_count = 0;
    std::vector<Message> early;                  // partials that came before our own
  };
  // The plan's checks: sender, kind, size and positions. Throws Error.
  void admit(const Message& m);
  // The state machine: a step's rows park per block until every CompNode
  // expected (from kStepBegin) has sent; then the block's partials go out.
  void on_step_begin(const Message& m, Outbox& out);
  void on_cache_rows(Message m, Outbox& out);  // splits into one parked message per block
  void park(Message m, Outbox& out);  // one block's rows, until the block completes
  void try_complete(int layer, Outbox& out);
  void on_partial(Message m, Outbox& out);  // private: a partial for us to merge
  void fold(Merge& mg, const Message& m, int slot);
  void try_merge(int32_t step, int layer, Outbox& out);
  void send(Message m, Outbox& out);

  ModelConfig cfg_;
  const Plan& plan_;
  NodeId self_;
  uint64_t session_;
  RoleStats stats_;
  std::vector<Cache> cache_;                          // per block
  std::vector<std::deque<int32_t>> step_queue_;       // per block: steps in order
  std::map<std::pair<int32_t, int>, Pending> pending_;  // (step, block)
  std::vector<int32_t> q_pos_;            // the step's q rows, all senders
  std::vector<float> q_rows_, out_, lse_;
  int hd_;                                           // head width of the rows it gets
  std::map<std::pair<int32_t, int>, Merge> merges_;  // (step, block)
};

}  // namespace cascade
