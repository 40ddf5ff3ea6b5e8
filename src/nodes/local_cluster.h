// LocalCluster — every Cascade role in one process, joined by an in-memory bus.
//
// The roles are the same objects the node daemons run; only the delivery of
// messages differs (queues here, gRPC there). Delivery goes in waves: every
// message queued so far is handed to its role, each role taking its messages
// in send order. When several roles have real work in a wave (prefill),
// they run concurrently on the cores, one thread each, as separate machines
// would; otherwise (decode) one role at a time uses every core. Messages a
// wave produces are queued in a fixed order, so runs are deterministic.
// An optional MessageRecorder gets every message just before its receiver
// handles it (the privacy audit attacks these recordings).
#pragma once

#include <memory>
#include <vector>

#include "engine/backend.h"
#include "nodes/attn_node.h"
#include "nodes/client.h"
#include "nodes/comp_node.h"
#include "nodes/message_recorder.h"

namespace cascade {

class LocalCluster : public Backend {
 public:
  LocalCluster(const Model& model, const Plan& plan);

  void step(const int32_t* tokens, int n, bool all_rows, std::vector<float>& logits) override;
  int position() const override { return client_.position(); }

  const Client& client() const { return client_; }
  const CompNode& comp(int r) const { return *comps_[r]; }
  const AttnNode& attn(int i) const { return *attns_[i]; }
  const Plan& plan() const { return plan_; }
  // Records every message delivered from now on; null stops recording. Not owned.
  void set_recorder(MessageRecorder* r) { recorder_ = r; }

 private:
  NodeRole& role(const NodeId& id);  // the addressee of a message

  const Plan& plan_;
  Client client_;
  std::vector<std::unique_ptr<CompNode>> comps_;
  std::vector<std::unique_ptr<AttnNode>> attns_;
  MessageRecorder* recorder_ = nullptr;
};

}  // namespace cascade
