// LocalCluster — every Cascade role in one process, joined by a FIFO bus.
//
// The roles are the same objects the node daemons run; only the delivery of
// messages differs (a queue here, gRPC there). Messages are delivered one at
// a time in send order, so a run is deterministic.
#pragma once

#include <deque>
#include <memory>
#include <vector>

#include "client/backend.h"
#include "client/client.h"
#include "nodes/attn_node.h"
#include "nodes/comp_node.h"

namespace cascade {

class LocalCluster : public Backend, private Outbox {
 public:
  LocalCluster(const Model& model, const Plan& plan);

  void step(const int32_t* tokens, int n, bool all_rows, std::vector<float>& logits) override;
  int position() const override { return client_.position(); }

  const Client& client() const { return client_; }
  const CompNode& comp(int r) const { return *comps_[r]; }
  const AttnNode& attn(int i) const { return *attns_[i]; }
  const Plan& plan() const { return plan_; }

 private:
  void send(Message m) override { queue_.push_back(std::move(m)); }

  const Plan& plan_;
  Client client_;
  std::vector<std::unique_ptr<CompNode>> comps_;
  std::vector<std::unique_ptr<AttnNode>> attns_;
  std::deque<Message> queue_;
};

}  // namespace cascade
