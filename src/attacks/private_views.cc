#include "attacks/private_views.h"

#include "attacks/own_rows.h"

#include <cmath>
#include <limits>
#include <map>

#include "kernels/kernels.h"
#include "nodes/attn_mask.h"
#include "util/error.h"

namespace cascade::attacks {

CompNodeView private_comp_view(const Model& m, const Plan& plan, const std::vector<Message>& received, int comp,
                               const std::string& secret) {
  const auto& c = m.cfg;
  const int qd = c.q_dim(), H = c.n_heads, kvd = c.kv_dim();
  const std::string who = "comp" + std::to_string(comp);
  check(plan.is_private(), who + ": private_comp_view needs a private-protocol plan");
  const AttnMask mask(c, secret);
  const int w = mask.width();
  // One merged output per row: unmasked, it is both the block's input and one
  // normalized observation over every key up to the row.
  auto attend = [&](const std::vector<const Message*>& merged, const std::map<int32_t, int>& row_of, int l,
                    const float* q, const float* k, const float*, float* o, std::vector<AttnObservation>& obs) {
    for (const Message* mm : merged)
      for (size_t i = 0; i < mm->pos.size(); ++i) {
        const int t = mm->pos[i];
        const auto rt = row_of.find(t);
        check(rt != row_of.end(), who + ": a merged output for a row it does not own");
        const int r = rt->second;
        mask.unmask_out(l, plan.shard_of(t), mm->rows.data() + i * H * w, 1, o + (size_t)r * qd);
        obs.push_back(normalized_observation(c, l, t, q + (size_t)r * qd, k + (size_t)r * kvd, o + (size_t)r * qd));
      }
  };
  return comp_view(m, plan, received, comp, MsgType::kMerged, (size_t)H * w, 0, attend);
}

ReceivedView unmasked_attn_view(const Model& m, const Plan& plan, const std::vector<Message>& received, int attn,
                                const std::string& secret) {
  const auto& c = m.cfg;
  const int qd = c.q_dim(), kvd = c.kv_dim(), H = c.n_heads, F = plan.front_layers(), nb = c.n_layers - F;
  const int a = plan.attn_q_shard(attn), b = plan.attn_kv_shard(attn);
  const AttnMask mask(c, secret);
  const int w = mask.width();
  const size_t qw = (size_t)H * w, kw = (size_t)c.n_kv_heads * w;
  const std::string who = NodeId{Role::kAttn, attn}.name(plan.beta());
  std::vector<Message> clear;
  ReceivedView view;
  // Clear q rows per (block, position), for the partials' observations.
  std::map<std::pair<int, int>, std::vector<float>> q_of;
  for (const Message& msg : received) {
    if (msg.type == MsgType::kAttnRows || msg.type == MsgType::kCacheRows) {
      const int blocks = msg.type == MsgType::kCacheRows ? nb : 1;
      check(msg.rows.size() == msg.pos.size() * qw && msg.k.size() == (size_t)blocks * msg.kv_pos.size() * kw &&
                msg.v.size() == msg.k.size(),
            who + ": masked rows of the wrong size");
      Message cm = msg;
      cm.rows.resize(msg.pos.size() * qd);
      cm.k.resize((size_t)blocks * msg.kv_pos.size() * kvd);
      cm.v.resize(cm.k.size());
      mask.unmask_q(msg.layer, a, b, msg.rows.data(), (int)msg.pos.size(), cm.rows.data(), nullptr);
      for (size_t i = 0; i < msg.pos.size(); ++i)
        q_of[{msg.layer, msg.pos[i]}].assign(cm.rows.begin() + i * qd, cm.rows.begin() + (i + 1) * qd);
      const int n = (int)msg.kv_pos.size();
      for (int l = 0; l < blocks; ++l) {
        mask.unmask_k(msg.layer + l, a, b, msg.k.data() + (size_t)l * n * kw, n, cm.k.data() + (size_t)l * n * kvd);
        mask.unmask_v(msg.layer + l, a, msg.v.data() + (size_t)l * n * kw, n, cm.v.data() + (size_t)l * n * kvd);
      }
      clear.push_back(std::move(cm));
    }
  }
  view.rows = attn_rows(m, plan, clear);
  std::vector<float> alpha(H);
  for (const Message& msg : received) {
    if (msg.type != MsgType::kPartial) continue;
    check(msg.rows.size() == msg.pos.size() * qw && msg.lse.size() == msg.pos.size() * (size_t)H,
          who + ": a partial of the wrong size");
    for (size_t i = 0; i < msg.pos.size(); ++i) {
      const int t = msg.pos[i];
      auto q = q_of.find({msg.layer, t});
      if (q == q_of.end()) continue;
      AttnObservation ob;
      ob.layer = msg.layer;
      ob.query_pos = t;
      if (msg.from.role == Role::kClient) {
        for (int s = 0; s < std::min(plan.head(), t + 1); ++s) ob.key_pos.push_back(s);
      } else {
        const int kb = plan.attn_kv_shard(msg.from.index);
        for (int s = plan.head(); s <= t; ++s)
          if (plan.shard_of(s) == kb) ob.key_pos.push_back(s);
      }
      mask.alpha(msg.layer, t, alpha.data());
      ob.lse.resize(H);
      for (int h = 0; h < H; ++h) ob.lse[h] = msg.lse[i * H + h] - alpha[h];
      if (std::isinf(ob.lse[0]) && ob.lse[0] < 0) continue;  // no visible key
      ob.out.resize(qd);
      mask.unmask_out(msg.layer, a, msg.rows.data() + i * qw, 1, ob.out.data());
      ob.q = q->second;
      view.attn.push_back(std::move(ob));
    }
  }
  return view;
}

}  // namespace cascade::attacks
