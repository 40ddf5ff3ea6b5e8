#include "nodes/local_cluster.h"

#include <map>

#include "util/error.h"

namespace cascade {

LocalCluster::LocalCluster(const Model& model, const Plan& plan) : plan_(plan), client_(model, plan) {
  for (int r = 0; r < plan.alpha(); ++r) comps_.push_back(std::make_unique<CompNode>(model, plan, r, 0, client_.session_secret()));
  for (int i = 0; i < plan.n_attn(); ++i)
    attns_.push_back(std::make_unique<AttnNode>(model.cfg, plan, i));
}

NodeRole& LocalCluster::role(const NodeId& id) {
  switch (id.role) {
    case Role::kComp: return *comps_.at(id.index);
    case Role::kAttn: return *attns_.at(id.index);
    default: return client_;
  }
}

void LocalCluster::step(const int32_t* tokens, int n, bool all_rows, std::vector<float>& logits) {
  MessageList first;
  client_.begin_step(tokens, n, all_rows, first);
  std::vector<Message> wave = std::move(first.msgs);
  while (!wave.empty()) {
    if (recorder_)
      for (const Message& m : wave) recorder_->record(m);
    // Group the wave by destination, keeping each role's messages in order.
    std::map<NodeId, std::vector<Message*>> by_role;
    for (Message& m : wave) by_role[m.to].push_back(&m);
    std::vector<std::vector<Message*>*> groups;
    int heavy = 0;
    for (auto& [id, msgs] : by_role) {
      groups.push_back(&msgs);
      size_t rows = 0;
      for (Message* m : msgs) rows += m->pos.size() + m->kv_pos.size();
      heavy += rows >= 16;
    }
    std::vector<MessageList> out(groups.size());
    std::vector<std::string> errors(groups.size());
    auto run_group = [&](size_t g) {
      try {
        for (Message* m : *groups[g]) role(m->to).handle(std::move(*m), out[g]);
      } catch (const std::exception& e) {
        errors[g] = e.what();
      }
    };
    if (heavy >= 2) {
      // Roles with real work run side by side, one core each: nested kernels
      // and OpenBLAS run single-threaded inside the parallel region.
#pragma omp parallel for schedule(dynamic, 1)
      for (size_t g = 0; g < groups.size(); ++g) run_group(g);
    } else {
      for (size_t g = 0; g < groups.size(); ++g) run_group(g);
    }
    for (const std::string& e : errors)
      if (!e.empty()) throw Error(e);
    wave.clear();
    for (MessageList& q : out)
      for (Message& m : q.msgs) wave.push_back(std::move(m));
  }
  check(client_.step_done(), "local cluster stalled: the step did not complete (a protocol bug)");
  logits = client_.logits();
}

}  // namespace cascade
