#include "nodes/comp_node.h"

#include <limits>
#include <set>

#include "kernels/kernels.h"
#include "util/error.h"

namespace cascade {

CompNode::CompNode(const Model& model, const Plan& plan, int index, uint64_t session, std::string secret)
    : model_(model), plan_(plan), self_{Role::kComp, index}, session_(session) {
  if (plan.is_private()) {
    mask_ = std::make_unique<AttnMask>(model.cfg, std::move(secret));
  }
}

void CompNode::gather(const std::vector<float>& src, const std::vector<int>& idx, size_t width,
                      std::vector<float>& dst) {
  for (int i : idx) dst.insert(dst.end(), src.begin() + (size_t)i * width, src.begin() + (size_t)(i + 1) * width);
}

void CompNode::add_kv(Message& m, int a, int b, const std::vector<int>& idx) {
  const auto& c = model_.cfg;
  const size_t kvd = c.kv_dim();
  if (!mask_) {
    gather(k_, idx, kvd, m.k);
    gather(v_, idx, kvd, m.v);
    return;
  }
  const size_t n = idx.size(), w = (size_t)c.n_kv_heads * mask_->width();
  for (auto [src, dst, is_k] : {std::tuple{&k_, &m.k, true}, std::tuple{&v_, &m.v, false}}) {
    tmp_.clear();
    gather(*src, idx, kvd, tmp_);
    const size_t at = dst->size();
    dst->resize(at + n * w);
    if (is_k)
      mask_->mask_k(layer_, a, b, tmp_.data(), (int)n, dst->data() + at);
    else
      mask_->mask_v(layer_, a, tmp_.data(), (int)n, dst->data() + at);
  }
}

void CompNode::send(Message m, Outbox& out) {
  m.from = self_;
  m.session = session_;
  m.step = step_;
  stats_.sent(m);
  out.send(std::move(m));
}

void CompNode::handle(Message m, Outbox& out) {
  stats_.received(m);
  admit(m);
  if (m.type == MsgType::kHidden)
    on_hidden(std::move(m), out);
  else
    on_attention(m, out);
}

void CompNode::admit(const Message& m) {
  const auto& c = model_.cfg;
  const std::string who = self_.name(plan_.beta());
  const MsgType attention = mask_ ? MsgType::kMerged : MsgType::kPartial;
  check(m.type == MsgType::kHidden || m.type == attention, [&] {
    return who + " cannot handle a " + msg_type_name(m.type) + " message in the " + protocol_name(plan_.protocol()) +
           " protocol";
  });
  const RowKind kind = m.type == MsgType::kHidden ? RowKind::kHidden
                       : m.type == MsgType::kMerged ? RowKind::kMerged
                                                    : RowKind::kPartial;
  for (int32_t p : m.pos) {
    check(plan_.allows(self_, kind, p),
          [&] { return who + " received a row for position " + std::to_string(p) + " that its plan does not allow"; });
    stats_.positions_seen.insert(p);
  }
  check(m.kv_pos.empty() && m.k.empty() && m.v.empty(),
        [&] { return who + " received k/v rows, which only AttnNodes take"; });

  switch (m.type) {
    case MsgType::kHidden: {
      check(m.from.role == Role::kClient, [&] { return who + ": hidden rows must come from the client"; });
      check(m.layer == plan_.front_layers(), [&] { return who + ": hidden rows for the wrong block"; });
      check(m.rows.size() == m.pos.size() * (size_t)c.dim, [&] { return who + ": hidden rows have the wrong size"; });
      // The step's rows of mine must be exactly the positions sent.
      std::vector<int32_t> expect;
      for (int32_t p = m.pos_begin; p < m.pos_end; ++p)
        if (plan_.comp_of(p) == self_.index) expect.push_back(p);
      check(expect == m.pos, [&] { return who + ": hidden rows do not match the step's positions for this node"; });
      return;
    }
    case MsgType::kMerged:
      check(m.rows.size() == m.pos.size() * (size_t)c.n_heads * mask_->width() && m.lse.empty(),
            [&] { return who + ": merged output has the wrong size"; });
      for (int32_t p : m.pos)
        check(m.from == plan_.merger(plan_.shard_of(p), m.layer), [&] {
          return who + ": merged output for position " + std::to_string(p) + " from " + m.from.name(plan_.beta()) +
                 ", which does not merge its shard in block " + std::to_string(m.layer);
        });
      return;
    default:  // kPartial
      check(m.rows.size() == m.pos.size() * (size_t)c.q_dim() && m.lse.size() == m.pos.size() * (size_t)c.n_heads,
            [&] { return who + ": partial has the wrong size"; });
      if (m.from.role == Role::kClient) {
        check(plan_.head() > 0, [&] { return who + ": unexpected partial from the client"; });
        return;
      }
      check(m.from.role == Role::kAttn && m.from.index >= 0 && m.from.index < plan_.n_attn(),
            [&] { return who + ": partial from an unknown node"; });
      for (int32_t p : m.pos)
        check(plan_.shard_of(p) == plan_.attn_q_shard(m.from.index), [&] {
          return who + ": partial for position " + std::to_string(p) + " from an AttnNode not of its shard";
        });
      return;
  }
}

void CompNode::on_hidden(Message m, Outbox& out) {
  check(partials_got_ == partials_expected_,
        [&] { return self_.name(plan_.beta()) + ": new step before the previous one finished"; });
  step_ = m.step;
  flags_ = m.flags;
  pos_end_ = m.pos_end;
  mine_ = m.pos;
  row_of_.clear();
  for (size_t i = 0; i < mine_.size(); ++i) row_of_[mine_[i]] = (int)i;
  h_ = std::move(m.rows);
  layer_ = m.layer;
  step_has_queries_.assign(plan_.beta(), false);
  for (int32_t p = m.pos_begin; p < m.pos_end; ++p)
    if (plan_.shard_of(p) != Plan::kClientOwned) step_has_queries_[plan_.shard_of(p)] = true;
  cache_rows_.clear();
  if (layer_ < model_.cfg.n_layers) start_block(out);
}

void CompNode::on_attention(const Message& m, Outbox& out) {
  check(m.step == step_ && m.layer == layer_,
        [&] { return self_.name(plan_.beta()) + ": partial for a step/block not in flight"; });
  if (mask_)
    take_merged(m);
  else
    take_partial(m);
  if (++partials_got_ == partials_expected_) finish_block(out);
}

void CompNode::take_partial(const Message& m) {
  const int qd = model_.cfg.q_dim(), H = model_.cfg.n_heads;
  const int slot = m.from.role == Role::kClient ? plan_.beta() : plan_.attn_kv_shard(m.from.index);
  for (size_t i = 0; i < m.pos.size(); ++i) {
    const int r = row_of_.at(m.pos[i]);
    std::copy(m.rows.begin() + i * qd, m.rows.begin() + (i + 1) * qd, slot_out_[slot].begin() + (size_t)r * qd);
    std::copy(m.lse.begin() + i * H, m.lse.begin() + (i + 1) * H, slot_lse_[slot].begin() + (size_t)r * H);
  }
}

void CompNode::start_block(Outbox& out) {
  const auto& c = model_.cfg;
  const int n = (int)mine_.size(), qd = c.q_dim(), H = c.n_heads, beta = plan_.beta();
  q_.resize((size_t)n * qd);
  k_.resize((size_t)n * c.kv_dim());
  v_.resize((size_t)n * c.kv_dim());
  block_qkv(model_, layer_, h_.data(), mine_.data(), n, q_.data(), k_.data(), v_.data(), scratch_);
  if (mask_) {
    // Score shifts per row, head and block: what hides the self score.
    alpha_.resize((size_t)n * H);
    for (int i = 0; i < n; ++i) mask_->alpha(layer_, mine_[i], alpha_.data() + (size_t)i * H);
  }

  // One message per AttnNode (a, b): my q rows of shard a, my k,v rows of shard b.
  std::vector<std::vector<int>> rows_of_shard(beta);
  for (int i = 0; i < n; ++i) rows_of_shard[plan_.shard_of(mine_[i])].push_back(i);
  std::set<int> q_shards;
  for (int a = 0; a < beta; ++a) {
    for (int b = 0; b < beta; ++b) {
      if (rows_of_shard[a].empty() && rows_of_shard[b].empty()) continue;
      if (!step_has_queries_[a]) {
        // Nobody queries (a, b) in this step: its k,v rows wait for the
        // step's end and go in one kCacheRows message (a decode step would
        // otherwise send β-1 k/v-only messages per block).
        Message& m = cache_rows_[plan_.attn_node(a, b).index];
        if (m.kv_pos.empty()) {
          m.type = MsgType::kCacheRows;
          m.to = plan_.attn_node(a, b);
          m.layer = layer_;
          for (int i : rows_of_shard[b]) m.kv_pos.push_back(mine_[i]);
        }
        add_kv(m, a, b, rows_of_shard[b]);
        continue;
      }
      Message m;
      m.type = MsgType::kAttnRows;
      m.to = plan_.attn_node(a, b);
      m.layer = layer_;
      for (int i : rows_of_shard[a]) m.pos.push_back(mine_[i]);
      if (!mask_) {
        gather(q_, rows_of_shard[a], qd, m.rows);
      } else if (!rows_of_shard[a].empty()) {
        tmp_.clear();
        tmp2_.clear();
        gather(q_, rows_of_shard[a], qd, tmp_);
        gather(alpha_, rows_of_shard[a], H, tmp2_);
        m.rows.resize(rows_of_shard[a].size() * H * mask_->width());
        mask_->mask_q(layer_, a, b, tmp_.data(), tmp2_.data(), (int)rows_of_shard[a].size(), m.rows.data());
      }
      for (int i : rows_of_shard[b]) m.kv_pos.push_back(mine_[i]);
      add_kv(m, a, b, rows_of_shard[b]);
      if (!rows_of_shard[a].empty()) q_shards.insert(a);
      send(std::move(m), out);
    }
  }
  // Paper: β key shards (+1 for the client's head keys), merged here.
  // Private: the merged output arrives in merged_.
  n_slots_ = mask_ ? 0 : beta + (plan_.head() > 0 ? 1 : 0);
  merged_.resize((size_t)n * qd);
  // Outputs need no clearing: a slot row that no partial fills keeps
  // lse = -inf, and the merge skips it.
  slot_out_.resize(n_slots_);
  slot_lse_.resize(n_slots_);
  for (int s = 0; s < n_slots_; ++s) {
    slot_out_[s].resize((size_t)n * qd);
    slot_lse_[s].assign((size_t)n * c.n_heads, -std::numeric_limits<float>::infinity());
  }
  partials_got_ = 0;
  // Private: one merged message per query shard of mine; the client's head
  // partial goes to the merger, not here.
  partials_expected_ = (int)q_shards.size() * (mask_ ? 1 : beta);
  if (plan_.head() > 0) {
    // The client keeps the first positions' keys; it serves their attention.
    Message m;
    m.type = MsgType::kAttnRows;
    m.to = {Role::kClient, 0};
    m.layer = layer_;
    m.pos = mine_;
    m.rows = q_;
    if (!mask_) partials_expected_ += 1;
    send(std::move(m), out);
  }
}

void CompNode::take_merged(const Message& m) {
  const auto& c = model_.cfg;
  const int H = c.n_heads, w = mask_->width(), qd = c.q_dim();
  for (size_t i = 0; i < m.pos.size(); ++i) {
    const int a = plan_.shard_of(m.pos[i]);
    const int r = row_of_.at(m.pos[i]);
    mask_->unmask_out(layer_, a, m.rows.data() + i * H * w, 1, merged_.data() + (size_t)r * qd);
  }
}

void CompNode::finish_block(Outbox& out) {
  const auto& c = model_.cfg;
  const int n = (int)mine_.size();
  if (!mask_) {  // paper: merge the partials here; private: merged_ came merged
    std::vector<const float*> po(n_slots_), pl(n_slots_);
    for (int s = 0; s < n_slots_; ++s) {
      po[s] = slot_out_[s].data();
      pl[s] = slot_lse_[s].data();
    }
    merged_.resize((size_t)n * c.q_dim());
    attention_merge(merged_.data(), po.data(), pl.data(), n_slots_, n, c.n_heads, c.head_dim);
  }
  block_finish(model_, layer_, h_.data(), merged_.data(), n, scratch_);
  ++layer_;
  if (layer_ < c.n_layers) {
    start_block(out);
    return;
  }
  // Done: the rows the client asked for (the last position's, or all), then
  // the deferred k,v rows. The final row is on every token's critical path;
  // the k,v rows are needed only by later steps, and an AttnNode completes
  // steps in order, so a later step's rows wait for them there.
  Message m;
  m.type = MsgType::kFinal;
  m.to = {Role::kClient, 0};
  m.layer = layer_;
  for (int i = 0; i < n; ++i) {
    if (!(flags_ & kWantAllRows) && mine_[i] != pos_end_ - 1) continue;
    m.pos.push_back(mine_[i]);
    m.rows.insert(m.rows.end(), h_.begin() + (size_t)i * c.dim, h_.begin() + (size_t)(i + 1) * c.dim);
  }
  send(std::move(m), out);
  for (auto& [index, cm] : cache_rows_) send(std::move(cm), out);
  cache_rows_.clear();
}

int64_t CompNode::held_bytes() const {
  auto bytes = [](const auto& v) { return (int64_t)(v.capacity() * sizeof(v[0])); };
  int64_t n = bytes(mine_) + bytes(h_) + bytes(q_) + bytes(k_) + bytes(v_) + bytes(merged_) + bytes(alpha_) +
              bytes(tmp_) + bytes(tmp2_) + 48 * (int64_t)row_of_.size();
  for (const auto& v : slot_out_) n += bytes(v);
  for (const auto& v : slot_lse_) n += bytes(v);
  for (const auto& [idx, m] : cache_rows_) n += (int64_t)(sizeof(Message) + m.held_bytes());
  return n;
}

}  // namespace cascade
