#include "nodes/attn_node.h"

#include <algorithm>
#include <limits>
#include <set>

#include "kernels/kernels.h"
#include "util/error.h"

namespace cascade {

AttnNode::AttnNode(const ModelConfig& cfg, const Plan& plan, int index, uint64_t session)
    : cfg_(cfg), plan_(plan), self_{Role::kAttn, index}, session_(session),
      hd_(plan.is_private() ? cfg.head_dim + 1 : cfg.head_dim) {
  cache_.resize(cfg.n_layers);
  step_queue_.resize(cfg.n_layers);
}

void AttnNode::handle(Message m, Outbox& out) {
  stats_.received(m);
  admit(m);
  switch (m.type) {
    case MsgType::kStepBegin: on_step_begin(m, out); return;
    case MsgType::kPartial: on_partial(std::move(m), out); return;
    case MsgType::kAttnRows: park(std::move(m), out); return;
    default: on_cache_rows(std::move(m), out); return;
  }
}

void AttnNode::admit(const Message& m) {
  const std::string who = self_.name(plan_.beta());
  const int qa = plan_.attn_q_shard(self_.index), F = plan_.front_layers(), L = cfg_.n_layers;
  const size_t H = cfg_.n_heads, qd = H * hd_, kvd = (size_t)cfg_.n_kv_heads * hd_;
  switch (m.type) {
    case MsgType::kStepBegin:
      check(m.from.role == Role::kClient, [&] { return who + ": step begin must come from the client"; });
      check(m.pos_begin >= 0 && m.pos_end > m.pos_begin && m.pos_end <= plan_.horizon(),
            [&] { return who + ": step positions out of range"; });
      return;
    case MsgType::kPartial:  // private only: as the merger of the query shard
      check(plan_.is_private(), [&] { return who + " cannot handle a partial message"; });
      check(m.layer >= F && m.layer < L, [&] { return who + ": partial for a block outside [F, L)"; });
      check(plan_.merger(qa, m.layer) == self_, [&] {
        return who + ": got a partial for block " + std::to_string(m.layer) + ", which " +
               plan_.merger(qa, m.layer).name(plan_.beta()) + " merges";
      });
      if (m.from.role == Role::kClient)
        check(plan_.head() > 0, [&] { return who + ": unexpected partial from the client"; });
      else
        check(
            m.from.role == Role::kAttn && m.from.index >= 0 && m.from.index < plan_.n_attn() && !(m.from == self_) &&
                plan_.attn_q_shard(m.from.index) == qa,
            [&] { return who + ": partial from " + m.from.name(plan_.beta()) + ", which is not of its query shard"; });
      check(m.rows.size() == m.pos.size() * qd && m.lse.size() == m.pos.size() * H && m.kv_pos.empty(),
            [&] { return who + ": partial has the wrong size"; });
      for (int32_t p : m.pos) {
        check(plan_.allows(self_, RowKind::kPartial, p), [&] {
          return who + " received a partial for position " + std::to_string(p) + " that its plan does not allow";
        });
        stats_.positions_seen.insert(p);
      }
      return;
    case MsgType::kAttnRows:
    case MsgType::kCacheRows: {
      check(m.from.role == Role::kComp, [&] { return who + ": rows must come from a CompNode"; });
      const size_t blocks = m.type == MsgType::kCacheRows ? L - F : 1;
      if (m.type == MsgType::kCacheRows)
        check(m.layer == F && m.pos.empty(),
              [&] { return who + ": cache rows must start at block F and carry no q rows"; });
      check(m.layer >= F && m.layer < L, [&] { return who + ": rows for a block outside [F, L)"; });
      check(m.rows.size() == m.pos.size() * qd && m.k.size() == blocks * m.kv_pos.size() * kvd &&
                m.v.size() == blocks * m.kv_pos.size() * kvd && m.lse.empty(),
            [&] { return who + ": rows message has the wrong size"; });
      for (int32_t p : m.pos) {
        check(plan_.allows(self_, RowKind::kQuery, p), [&] {
          return who + " received a q row for position " + std::to_string(p) + " that its plan does not allow";
        });
        check(plan_.comp_of(p) == m.from.index, [&] { return who + ": q row from a CompNode that does not own it"; });
        stats_.positions_seen.insert(p);
      }
      for (int32_t p : m.kv_pos) {
        check(plan_.allows(self_, RowKind::kKeyValue, p), [&] {
          return who + " received a k/v row for position " + std::to_string(p) + " that its plan does not allow";
        });
        check(plan_.comp_of(p) == m.from.index, [&] { return who + ": k/v row from a CompNode that does not own it"; });
        stats_.positions_seen.insert(p);
      }
      return;
    }
    default:
      check(false, [&] { return who + " cannot handle a " + std::string(msg_type_name(m.type)) + " message"; });
  }
}

void AttnNode::on_step_begin(const Message& m, Outbox& out) {
  const int qa = plan_.attn_q_shard(self_.index), kb = plan_.attn_kv_shard(self_.index);
  std::set<NodeId> senders;
  bool queries = false;
  for (int32_t p = m.pos_begin; p < m.pos_end; ++p) {
    const int s = plan_.shard_of(p);
    if (s == qa || s == kb) senders.insert({Role::kComp, plan_.comp_of(p)});
    if (s == qa) queries = true;
  }
  if (senders.empty()) return;
  for (int l = plan_.front_layers(); l < cfg_.n_layers; ++l) {
    Pending& pd = pending_[{m.step, l}];
    check(!pd.begun, [&] { return self_.name(plan_.beta()) + ": step " + std::to_string(m.step) + " begun twice"; });
    pd.begun = true;
    pd.expected = senders;
    pd.rows_type = queries ? MsgType::kAttnRows : MsgType::kCacheRows;
    step_queue_[l].push_back(m.step);
    try_complete(l, out);  // rows may have arrived before the step began
  }
}

void AttnNode::on_cache_rows(Message m, Outbox& out) {
  // One kCacheRows message holds every block's rows: park one message per block.
  const int F = plan_.front_layers(), L = cfg_.n_layers;
  const size_t per_block = m.kv_pos.size() * (size_t)cfg_.n_kv_heads * hd_;
  for (int l = F; l < L; ++l) {
    Message b;
    b.type = m.type;
    b.from = m.from;
    b.step = m.step;
    b.layer = l;
    b.kv_pos = m.kv_pos;
    b.k.assign(m.k.begin() + (l - F) * per_block, m.k.begin() + (l - F + 1) * per_block);
    b.v.assign(m.v.begin() + (l - F) * per_block, m.v.begin() + (l - F + 1) * per_block);
    park(std::move(b), out);
  }
}

void AttnNode::park(Message m, Outbox& out) {
  // Rows may arrive before kStepBegin on a network; park them under the step.
  Pending& pd = pending_[{m.step, m.layer}];
  for (const Message& prev : pd.msgs)
    check(!(prev.from == m.from),
          [&] { return self_.name(plan_.beta()) + ": two row messages from one CompNode for one block"; });
  const int layer = m.layer;
  pd.msgs.push_back(std::move(m));
  try_complete(layer, out);
}

void AttnNode::try_complete(int layer, Outbox& out) {
  const std::string who = self_.name(plan_.beta());
  // Blocks of successive steps complete in step order: the cache must hold
  // the earlier step's keys before a later step's queries use it.
  while (!step_queue_[layer].empty()) {
    const int32_t step = step_queue_[layer].front();
    auto it = pending_.find({step, layer});
    Pending& pd = it->second;
    for (const Message& m : pd.msgs) {
      check(pd.expected.count(m.from), [&] {
        return who + ": rows from " + m.from.name(plan_.beta()) + ", which has no rows for it in this step";
      });
      check(m.type == pd.rows_type, [&] {
        return who + ": rows from " + m.from.name(plan_.beta()) + " came as " + msg_type_name(m.type) +
               ", but this step has " + (pd.rows_type == MsgType::kAttnRows ? "" : "no ") + "queries for it";
      });
    }
    if (pd.msgs.size() < pd.expected.size()) return;

    Cache& cache = cache_[layer];
    for (const Message& m : pd.msgs) {
      cache.pos.insert(cache.pos.end(), m.kv_pos.begin(), m.kv_pos.end());
      cache.k.insert(cache.k.end(), m.k.begin(), m.k.end());
      cache.v.insert(cache.v.end(), m.v.begin(), m.v.end());
    }
    // All q rows of the step in one call (the GEMM path wants many rows),
    // then one reply per sender with its rows' outputs (paper), or one
    // partial to the shard's merger (private).
    const int qd = cfg_.n_heads * hd_, H = cfg_.n_heads;
    q_pos_.clear();
    q_rows_.clear();
    for (const Message& m : pd.msgs) {
      q_pos_.insert(q_pos_.end(), m.pos.begin(), m.pos.end());
      q_rows_.insert(q_rows_.end(), m.rows.begin(), m.rows.end());
    }
    const int nq = (int)q_pos_.size();
    out_.resize((size_t)nq * qd);
    lse_.resize((size_t)nq * H);
    if (nq > 0)
      attention_partial(out_.data(), lse_.data(), q_rows_.data(), q_pos_.data(), nq, cache.k.data(),
                        cache.v.data(), cache.pos.data(), (int)cache.pos.size(), cfg_.n_heads,
                        cfg_.n_kv_heads, hd_);
    if (plan_.is_private()) {
      if (nq > 0) {
        Message r;
        r.type = MsgType::kPartial;
        r.to = plan_.merger(plan_.attn_q_shard(self_.index), layer);
        r.step = step;
        r.layer = layer;
        r.pos = q_pos_;
        r.rows = out_;
        r.lse = lse_;
        if (r.to == self_) {
          Merge& mg = merges_[{step, layer}];
          mg.own = true;
          mg.pos = q_pos_;
          const int slots = plan_.beta() + (plan_.head() > 0 ? 1 : 0);
          mg.out.assign(slots, std::vector<float>((size_t)nq * qd));
          mg.lse.assign(slots, std::vector<float>((size_t)nq * H, -std::numeric_limits<float>::infinity()));
          mg.filled.assign(slots, std::vector<char>(nq, 0));
          for (int i = 0; i < nq; ++i) mg.row_of[q_pos_[i]] = i;
          fold(mg, r, plan_.attn_kv_shard(self_.index));
          std::vector<Message> early = std::move(mg.early);
          for (const Message& e : early)
            fold(mg, e, e.from.role == Role::kClient ? plan_.beta() : plan_.attn_kv_shard(e.from.index));
          try_merge(step, layer, out);
        } else {
          send(std::move(r), out);
        }
      }
    } else {
      size_t first = 0;
      for (const Message& m : pd.msgs) {
        const size_t n = m.pos.size();
        if (n == 0) continue;
        Message r;
        r.type = MsgType::kPartial;
        r.to = m.from;
        r.step = step;
        r.layer = layer;
        r.pos = m.pos;
        r.rows.assign(out_.begin() + first * qd, out_.begin() + (first + n) * qd);
        r.lse.assign(lse_.begin() + first * H, lse_.begin() + (first + n) * H);
        first += n;
        send(std::move(r), out);
      }
    }
    pending_.erase(it);
    step_queue_[layer].pop_front();
  }
}

void AttnNode::send(Message m, Outbox& out) {
  m.from = self_;
  m.session = session_;
  stats_.sent(m);
  out.send(std::move(m));
}

void AttnNode::on_partial(Message m, Outbox& out) {
  const int slot = m.from.role == Role::kClient ? plan_.beta() : plan_.attn_kv_shard(m.from.index);
  Merge& mg = merges_[{m.step, m.layer}];
  const int32_t step = m.step;
  const int layer = m.layer;
  if (!mg.own) {
    mg.early.push_back(std::move(m));
    return;
  }
  fold(mg, m, slot);
  try_merge(step, layer, out);
}

void AttnNode::fold(Merge& mg, const Message& m, int slot) {
  const std::string who = self_.name(plan_.beta());
  const size_t qd = (size_t)cfg_.n_heads * hd_, H = cfg_.n_heads;
  for (size_t i = 0; i < m.pos.size(); ++i) {
    auto it = mg.row_of.find(m.pos[i]);
    check(it != mg.row_of.end(), [&] {
      return who + ": partial from " + m.from.name(plan_.beta()) + " for position " + std::to_string(m.pos[i]) +
             ", which is not queried in the step";
    });
    const int r = it->second;
    check(!mg.filled[slot][r], [&] {
      return who + ": two partials from " + m.from.name(plan_.beta()) + " for position " + std::to_string(m.pos[i]);
    });
    mg.filled[slot][r] = 1;
    ++mg.filled_count;
    std::copy(m.rows.begin() + i * qd, m.rows.begin() + (i + 1) * qd, mg.out[slot].begin() + r * qd);
    std::copy(m.lse.begin() + i * H, m.lse.begin() + (i + 1) * H, mg.lse[slot].begin() + r * H);
  }
}

void AttnNode::try_merge(int32_t step, int layer, Outbox& out) {
  auto it = merges_.find({step, layer});
  Merge& mg = it->second;
  const int n = (int)mg.pos.size(), slots = (int)mg.out.size();
  if (mg.filled_count < n * slots) return;
  const int H = cfg_.n_heads;
  const size_t qd = (size_t)H * hd_;
  std::vector<const float*> po(slots), pl(slots);
  for (int s = 0; s < slots; ++s) {
    po[s] = mg.out[s].data();
    pl[s] = mg.lse[s].data();
  }
  std::vector<float> merged((size_t)n * qd);
  attention_merge(merged.data(), po.data(), pl.data(), slots, n, H, hd_);
  // One message per CompNode with its rows: the softmax average only. Its
  // log-sum-exp stays here: a CompNode needs o_t, and the normaliser would
  // be one more equation per head about the keys it does not see.
  std::map<int, Message> to;
  for (int r = 0; r < n; ++r) {
    Message& m = to[plan_.comp_of(mg.pos[r])];
    m.pos.push_back(mg.pos[r]);
    m.rows.insert(m.rows.end(), merged.begin() + r * qd, merged.begin() + (r + 1) * qd);
  }
  merges_.erase(it);
  for (auto& [comp, m] : to) {
    m.type = MsgType::kMerged;
    m.to = {Role::kComp, comp};
    m.step = step;
    m.layer = layer;
    send(std::move(m), out);
  }
}

int64_t AttnNode::held_bytes() const {
  auto bytes = [](const auto& v) { return (int64_t)(v.capacity() * sizeof(v[0])); };
  int64_t n = bytes(q_pos_) + bytes(q_rows_) + bytes(out_) + bytes(lse_);
  for (const Cache& c : cache_) n += bytes(c.pos) + bytes(c.k) + bytes(c.v);
  for (const auto& [key, pd] : pending_) {
    n += 64 + 32 * (int64_t)pd.expected.size();
    for (const Message& m : pd.msgs) n += (int64_t)(sizeof(Message) + m.held_bytes());
  }
  for (const auto& [key, mg] : merges_) {
    n += bytes(mg.pos) + 48 * (int64_t)mg.row_of.size();
    for (const auto& v : mg.out) n += bytes(v);
    for (const auto& v : mg.lse) n += bytes(v);
    for (const auto& v : mg.filled) n += bytes(v);
    for (const Message& m : mg.early) n += (int64_t)(sizeof(Message) + m.held_bytes());
  }
  return n;
}

}  // namespace cascade
