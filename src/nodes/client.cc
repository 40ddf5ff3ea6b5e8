#include "nodes/client.h"

#include <numeric>
#include <set>

#include "kernels/kernels.h"
#include "util/error.h"

namespace cascade {

Client::Client(const Model& model, const Plan& plan, uint64_t session)
    : model_(model), plan_(plan), session_(session), front_(model), head_(model) {
  head_pos_.resize(plan.head());
  std::iota(head_pos_.begin(), head_pos_.end(), 0);
  if (plan.is_private()) {
    secret_ = new_session_secret();
    mask_ = std::make_unique<AttnMask>(model.cfg, secret_);
  }
}

void Client::send(Message m, Outbox& out) {
  m.from = {Role::kClient, 0};
  m.session = session_;
  m.step = step_;
  stats_.sent(m);
  out.send(std::move(m));
}

std::vector<NodeId> Client::nodes_with_work(int begin, int end) const {
  std::set<NodeId> comps;
  std::set<int> shards;
  for (int p = std::max(begin, plan_.head()); p < end; ++p) {
    comps.insert({Role::kComp, plan_.comp_of(p)});
    shards.insert(plan_.shard_of(p));
  }
  std::vector<NodeId> out(comps.begin(), comps.end());
  for (int i = 0; i < plan_.n_attn(); ++i)
    if (shards.count(plan_.attn_q_shard(i)) || shards.count(plan_.attn_kv_shard(i)))
      out.push_back({Role::kAttn, i});
  return out;
}

void Client::begin_step(const int32_t* tokens, int n, bool want_all_rows, Outbox& out) {
  const auto& c = model_.cfg;
  check(step_done(), "client: a step is still in flight");
  check(n > 0, "client: empty step");
  check(n_pos_ + n <= std::min(c.context_length, plan_.horizon()), [&] {
    return "context overflow: " + std::to_string(n_pos_ + n) + " positions, but the plan covers " +
           std::to_string(std::min(c.context_length, plan_.horizon()));
  });
  // Embedding first: it rejects bad token ids before any state changes.
  std::vector<int32_t> pos(n);
  std::iota(pos.begin(), pos.end(), n_pos_);
  std::vector<float> h((size_t)n * c.dim);
  embed_rows(model_, tokens, pos.data(), n, h.data());

  ++step_;
  want_all_ = want_all_rows;
  step_begin_ = n_pos_;
  step_end_ = n_pos_ + n;
  n_pos_ = step_end_;
  final_rows_.clear();

  // Embedding and the first F blocks never leave the client.
  front_.run_layers(h.data(), n, 0, plan_.front_layers());

  // Positions below the head: every block here, never sent anywhere.
  const int n_head = std::max(0, std::min(step_end_, plan_.head()) - step_begin_);
  if (n_head > 0) {
    head_.run_layers(h.data(), n_head, plan_.front_layers(), c.n_layers);
    for (int i = 0; i < n_head; ++i)
      final_rows_[step_begin_ + i].assign(h.begin() + (size_t)i * c.dim, h.begin() + (size_t)(i + 1) * c.dim);
  }

  finals_left_ = 0;
  if (n_head == n || plan_.front_layers() == c.n_layers) {
    // Nothing for the nodes: with F = L the client computes everything.
    if (plan_.front_layers() == c.n_layers)
      for (int i = n_head; i < n; ++i)
        final_rows_[step_begin_ + i].assign(h.begin() + (size_t)i * c.dim, h.begin() + (size_t)(i + 1) * c.dim);
    finish_step();
    return;
  }
  for (const NodeId& node : nodes_with_work(step_begin_, step_end_)) {
    if (node.role == Role::kAttn) {
      Message m;
      m.type = MsgType::kStepBegin;
      m.to = node;
      m.pos_begin = step_begin_;
      m.pos_end = step_end_;
      send(std::move(m), out);
      continue;
    }
    Message m;
    m.type = MsgType::kHidden;
    m.to = node;
    m.layer = plan_.front_layers();
    m.pos_begin = step_begin_;
    m.pos_end = step_end_;
    m.flags = want_all_rows ? kWantAllRows : 0;
    for (int i = n_head; i < n; ++i) {
      if (plan_.comp_of(step_begin_ + i) != node.index) continue;
      m.pos.push_back(step_begin_ + i);
      m.rows.insert(m.rows.end(), h.begin() + (size_t)i * c.dim, h.begin() + (size_t)(i + 1) * c.dim);
    }
    ++finals_left_;
    send(std::move(m), out);
  }
}

void Client::handle(Message m, Outbox& out) {
  stats_.received(m);
  admit(m);
  if (m.type == MsgType::kAttnRows)
    on_attn_rows(m, out);
  else
    on_final(m);
}

void Client::admit(const Message& m) const {
  const auto& c = model_.cfg;
  check(m.from.role == Role::kComp && m.from.index >= 0 && m.from.index < plan_.alpha(),
        "client: message from an unknown party");
  check(m.step == step_, "client: message for a step not in flight");
  for (int32_t p : m.pos)
    check(plan_.comp_of(p) == m.from.index && p >= step_begin_ && p < step_end_,
          [&] { return "client: " + m.from.name(plan_.beta()) + " sent a row it does not own"; });
  if (m.type == MsgType::kAttnRows) {
    check(m.layer >= plan_.front_layers() && m.layer < c.n_layers, "client: rows for a bad block");
    check(m.rows.size() == m.pos.size() * (size_t)c.q_dim() && m.kv_pos.empty() && m.lse.empty(),
          "client: attention request has the wrong size");
    return;
  }
  check(m.type == MsgType::kFinal,
        [&] { return std::string("client cannot handle a ") + msg_type_name(m.type) + " message"; });
  check(m.rows.size() == m.pos.size() * (size_t)c.dim, "client: final rows have the wrong size");
}

void Client::on_attn_rows(const Message& m, Outbox& out) {
  // Attention of node queries over the head keys the client kept.
  const auto& c = model_.cfg;
  const int nq = (int)m.pos.size();
  Message r;
  r.type = MsgType::kPartial;
  r.to = m.from;
  r.layer = m.layer;
  r.pos = m.pos;
  r.rows.resize((size_t)nq * c.q_dim());
  r.lse.resize((size_t)nq * c.n_heads);
  const int nk = std::min(head_.position(), plan_.head());
  attention_partial(r.rows.data(), r.lse.data(), m.rows.data(), m.pos.data(), nq, head_.k_cache(m.layer),
                    head_.v_cache(m.layer), head_pos_.data(), nk, c.n_heads, c.n_kv_heads, c.head_dim);
  if (!mask_) {
    send(std::move(r), out);
    return;
  }
  // Private: shifted by the row's α and masked like the AttnNodes' partials,
  // to the merger of each row's query shard.
  std::map<int, Message> by_shard;
  const int H = c.n_heads, qd = c.q_dim(), w = H * mask_->width();
  std::vector<float> alpha(H);
  for (int i = 0; i < nq; ++i) {
    mask_->alpha(m.layer, m.pos[i], alpha.data());
    const int a = plan_.shard_of(m.pos[i]);
    Message& p = by_shard[a];
    p.pos.push_back(m.pos[i]);
    p.rows.resize(p.pos.size() * w);
    mask_->mask_out(m.layer, a, r.rows.data() + (size_t)i * qd, 1, p.rows.data() + (p.pos.size() - 1) * w);
    for (int h = 0; h < H; ++h) p.lse.push_back(r.lse[(size_t)i * H + h] + alpha[h]);
  }
  for (auto& [a, p] : by_shard) {
    p.type = MsgType::kPartial;
    p.to = plan_.merger(a, m.layer);
    p.layer = m.layer;
    send(std::move(p), out);
  }
}

void Client::on_final(const Message& m) {
  const int dim = model_.cfg.dim;
  check(finals_left_ > 0, "client: unexpected final rows");
  for (size_t i = 0; i < m.pos.size(); ++i)
    final_rows_[m.pos[i]].assign(m.rows.begin() + i * dim, m.rows.begin() + (i + 1) * dim);
  if (--finals_left_ == 0) finish_step();
}

void Client::finish_step() {
  const auto& c = model_.cfg;
  const int first = want_all_ ? step_begin_ : step_end_ - 1;
  std::vector<float> rows;
  for (int p = first; p < step_end_; ++p) {
    auto it = final_rows_.find(p);
    check(it != final_rows_.end(), [&] { return "client: no final row came back for position " + std::to_string(p); });
    rows.insert(rows.end(), it->second.begin(), it->second.end());
  }
  const int nr = step_end_ - first;
  logits_.resize((size_t)nr * c.vocab_size);
  final_logits(model_, rows.data(), nr, logits_.data(), scratch_);
}

}  // namespace cascade
