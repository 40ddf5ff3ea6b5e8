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
#pragma once

#include <deque>
#include <map>
#include <set>
#include <vector>

#include "nodes/message.h"
#include "nodes/role_stats.h"

namespace cascade {

class AttnNode {
 public:
  AttnNode(const ModelConfig& cfg, const Plan& plan, int index, uint64_t session = 0);

  // Handles kStepBegin, kAttnRows and kCacheRows. Throws Error on a row the plan does not
  // allow, a sender that has no rows in this step, or a malformed message.
  // Takes the message by value so its row buffers move instead of copying.
  void handle(Message m, Outbox& out);

  const RoleStats& stats() const { return stats_; }
  NodeId id() const { return self_; }
  int cached_keys(int layer) const { return (int)cache_[layer].pos.size(); }

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
  void park(Message m, Outbox& out);  // one block's rows, until the block completes
  void try_complete(int layer, Outbox& out);

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
};

}  // namespace cascade
