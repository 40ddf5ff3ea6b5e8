#include "transport/local_cluster.h"

#include "util/error.h"

namespace cascade {

LocalCluster::LocalCluster(const Model& model, const Plan& plan) : plan_(plan), client_(model, plan) {
  for (int r = 0; r < plan.alpha(); ++r) comps_.push_back(std::make_unique<CompNode>(model, plan, r));
  for (int i = 0; i < plan.n_attn(); ++i)
    attns_.push_back(std::make_unique<AttnNode>(model.cfg, plan, i));
}

void LocalCluster::step(const int32_t* tokens, int n, bool all_rows, std::vector<float>& logits) {
  client_.begin_step(tokens, n, all_rows, *this);
  while (!queue_.empty()) {
    Message m = std::move(queue_.front());
    queue_.pop_front();
    switch (m.to.role) {
      case Role::kClient: client_.handle(m, *this); break;
      case Role::kComp: comps_.at(m.to.index)->handle(m, *this); break;
      case Role::kAttn: attns_.at(m.to.index)->handle(m, *this); break;
    }
  }
  check(client_.step_done(), "local cluster stalled: the step did not complete (a protocol bug)");
  logits = client_.logits();
}

}  // namespace cascade
