#include "attacks/recorded_views.h"

#include "attacks/own_rows.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "engine/layer.h"
#include "kernels/kernels.h"
#include "util/error.h"

namespace cascade::attacks {

void replay_comp_rows(const Model& m, int first_layer, const std::vector<int32_t>& pos, std::vector<float>& h,
                      const std::function<void(int, const float*, const float*, const float*, float*)>& attend,
                      const std::function<void(int, const float*, const float*, const float*)>& rows,
                      const std::function<void(int, const float*, const float*)>& residual) {
  const auto& c = m.cfg;
  const int n = (int)pos.size();
  check(h.size() == (size_t)n * c.dim, "replay_comp_rows: rows have the wrong size");
  RowScratch s;
  std::vector<float> q((size_t)n * c.q_dim()), k((size_t)n * c.kv_dim()), v((size_t)n * c.kv_dim()),
      o((size_t)n * c.q_dim());
  std::vector<float> h_in;
  for (int l = first_layer; l < c.n_layers; ++l) {
    block_qkv(m, l, h.data(), pos.data(), n, q.data(), k.data(), v.data(), s);
    if (rows) rows(l, q.data(), k.data(), v.data());
    attend(l, q.data(), k.data(), v.data(), o.data());
    if (residual) h_in = h;
    block_attn_out(m, l, h.data(), o.data(), n, s);
    if (residual) residual(l, h_in.data(), h.data());
    block_ffn(m, l, h.data(), n, s);
  }
}

CompNodeView comp_view(const Model& m, const Plan& plan, const std::vector<Message>& received, int comp,
                       MsgType result_type, size_t row_width, size_t lse_width, const StepAttend& attend) {
  const auto& c = m.cfg;
  const size_t qd = c.q_dim(), kvd = c.kv_dim();
  const std::string who = "comp" + std::to_string(comp);
  // The inbox by step: the hidden rows, then the results per block.
  std::map<int32_t, const Message*> hidden;
  std::map<std::pair<int32_t, int>, std::vector<const Message*>> results;
  CompNodeView view;
  const OutputFromRows from_rows(m);
  for (const Message& msg : received) {
    check(msg.to == NodeId{Role::kComp, comp}, who + ": a recorded message addressed to another node");
    if (msg.type == MsgType::kHidden) {
      check(msg.rows.size() == msg.pos.size() * (size_t)c.dim, who + ": hidden rows of the wrong size");
      hidden[msg.step] = &msg;
      view.n_positions = std::max(view.n_positions, (int)msg.pos_end);
    } else if (msg.type == result_type) {
      check(msg.rows.size() == msg.pos.size() * row_width && msg.lse.size() == msg.pos.size() * lse_width,
            who + ": a " + msg_type_name(msg.type) + " message of the wrong size");
      results[{msg.step, msg.layer}].push_back(&msg);
    } else {
      throw Error(who + ": cannot convert a received " + std::string(msg_type_name(msg.type)) + " message");
    }
  }
  for (auto& [step, hm] : hidden) {
    const std::vector<int32_t>& pos = hm->pos;
    const int n = (int)pos.size();
    if (n == 0) continue;
    std::map<int32_t, int> row_of;
    for (int i = 0; i < n; ++i) {
      row_of[pos[i]] = i;
      view.own_positions.push_back(pos[i]);
      view.view.rows.push_back({pos[i], plan.front_layers(), 'h',
                                std::vector<float>(hm->rows.begin() + (size_t)i * c.dim,
                                                   hm->rows.begin() + (size_t)(i + 1) * c.dim)});
    }
    std::vector<float> h = hm->rows;
    const int32_t s = step;
    auto step_attend = [&](int l, const float* q, const float* k, const float* v, float* o) {
      const auto it = results.find({s, l});
      check(it != results.end(), who + ": no " + msg_type_name(result_type) + " message recorded for step " +
                                     std::to_string(s) + " block " + std::to_string(l));
      attend(it->second, row_of, l, q, k, v, o, view.view.attn);
    };
    std::vector<float> q_l, k_l;  // this block's q and k rows, for own_row_attn's reference scale
    auto rows = [&](int l, const float* q, const float* k, const float* v) {
      q_l.assign(q, q + (size_t)n * qd);
      k_l.assign(k, k + (size_t)n * kvd);
      for (int i = 0; i < n; ++i) {
        view.view.rows.push_back({pos[i], l, 'q', std::vector<float>(q + i * qd, q + (i + 1) * qd)});
        view.view.rows.push_back({pos[i], l, 'k', std::vector<float>(k + i * kvd, k + (i + 1) * kvd)});
        view.view.rows.push_back({pos[i], l, 'v', std::vector<float>(v + i * kvd, v + (i + 1) * kvd)});
      }
    };
    auto residual = [&](int l, const float* h_in, const float* h_mid) {
      std::vector<float> o(qd);
      for (int i = 0; i < n; ++i) {
        from_rows.solve(l, h_in + (size_t)i * c.dim, h_mid + (size_t)i * c.dim, o.data());
        view.own_row_attn.push_back(
            normalized_observation(c, l, pos[i], q_l.data() + (size_t)i * qd, k_l.data() + (size_t)i * kvd, o.data()));
      }
    };
    replay_comp_rows(m, plan.front_layers(), pos, h, step_attend, rows, residual);
  }
  std::sort(view.own_positions.begin(), view.own_positions.end());
  return view;
}

CompNodeView paper_comp_view(const Model& m, const Plan& plan, const std::vector<Message>& received, int comp) {
  const auto& c = m.cfg;
  const int qd = c.q_dim(), H = c.n_heads;
  const std::string who = "comp" + std::to_string(comp);
  const float ninf = -std::numeric_limits<float>::infinity();
  // Each shard's partial (and the client's) is one observation; the node merges them.
  auto attend = [&](const std::vector<const Message*>& partials, const std::map<int32_t, int>& row_of, int l,
                    const float* q, const float*, const float*, float* o, std::vector<AttnObservation>& obs) {
    const int n = (int)row_of.size(), slots = (int)partials.size();
    std::vector<std::vector<float>> so(slots, std::vector<float>((size_t)n * qd, 0.0f));
    std::vector<std::vector<float>> sl(slots, std::vector<float>((size_t)n * H, ninf));
    for (int si = 0; si < slots; ++si) {
      const Message& pm = *partials[si];
      for (size_t i = 0; i < pm.pos.size(); ++i) {
        const int t = pm.pos[i];
        const auto rt = row_of.find(t);
        check(rt != row_of.end(), who + ": a partial for a row it does not own");
        const int r = rt->second;
        std::copy(pm.rows.begin() + i * qd, pm.rows.begin() + (i + 1) * qd, so[si].begin() + (size_t)r * qd);
        std::copy(pm.lse.begin() + i * H, pm.lse.begin() + (i + 1) * H, sl[si].begin() + (size_t)r * H);
        if (std::isinf(pm.lse[i * H]) && pm.lse[i * H] < 0) continue;  // no visible key
        AttnObservation ob;
        ob.layer = l;
        ob.query_pos = t;
        if (pm.from.role == Role::kClient) {
          for (int s = 0; s < std::min(plan.head(), t + 1); ++s) ob.key_pos.push_back(s);
        } else {
          const int b = plan.attn_kv_shard(pm.from.index);
          for (int s = plan.head(); s <= t; ++s)
            if (plan.shard_of(s) == b) ob.key_pos.push_back(s);
        }
        ob.q.assign(q + (size_t)r * qd, q + (size_t)(r + 1) * qd);
        ob.out.assign(pm.rows.begin() + i * qd, pm.rows.begin() + (i + 1) * qd);
        ob.lse.assign(pm.lse.begin() + i * H, pm.lse.begin() + (i + 1) * H);
        obs.push_back(std::move(ob));
      }
    }
    std::vector<const float*> po(slots), pl(slots);
    for (int si = 0; si < slots; ++si) {
      po[si] = so[si].data();
      pl[si] = sl[si].data();
    }
    attention_merge(o, po.data(), pl.data(), slots, n, H, c.head_dim);
  };
  return comp_view(m, plan, received, comp, MsgType::kPartial, qd, H, attend);
}

std::vector<AttnObservation> merge_observations(const std::vector<AttnObservation>& obs) {
  std::map<std::pair<int, int>, std::vector<const AttnObservation*>> by_row;
  for (const AttnObservation& o : obs) by_row[{o.layer, o.query_pos}].push_back(&o);
  std::vector<AttnObservation> out;
  for (const auto& [key, parts] : by_row) {
    AttnObservation m;
    m.layer = key.first;
    m.query_pos = key.second;
    m.q = parts[0]->q;
    const size_t H = parts[0]->lse.size(), hd = H ? parts[0]->out.size() / H : 0;
    m.out.assign(parts[0]->out.size(), 0.0f);
    m.lse.assign(H, 0.0f);
    for (size_t h = 0; h < H; ++h) {
      double mx = -std::numeric_limits<double>::infinity();
      for (const AttnObservation* p : parts) mx = std::max(mx, (double)p->lse[h]);
      double z = 0;
      std::vector<double> acc(hd, 0.0);
      for (const AttnObservation* p : parts) {
        const double w = std::exp((double)p->lse[h] - mx);
        z += w;
        for (size_t j = 0; j < hd; ++j) acc[j] += w * p->out[h * hd + j];
      }
      m.lse[h] = (float)(mx + std::log(z));
      for (size_t j = 0; j < hd; ++j) m.out[h * hd + j] = (float)(acc[j] / z);
    }
    for (const AttnObservation* p : parts) m.key_pos.insert(m.key_pos.end(), p->key_pos.begin(), p->key_pos.end());
    std::sort(m.key_pos.begin(), m.key_pos.end());
    out.push_back(std::move(m));
  }
  return out;
}

std::vector<RowObservation> attn_rows(const Model& m, const Plan& plan, const std::vector<Message>& received) {
  const auto& c = m.cfg;
  const int qd = c.q_dim(), kvd = c.kv_dim(), F = plan.front_layers(), nb = c.n_layers - F;
  std::vector<RowObservation> out;
  for (const Message& msg : received) {
    if (msg.type == MsgType::kAttnRows) {
      check(msg.rows.size() == msg.pos.size() * (size_t)qd && msg.k.size() == msg.kv_pos.size() * (size_t)kvd &&
                msg.v.size() == msg.k.size(),
            "attn_rows: rows of the wrong size");
      for (size_t i = 0; i < msg.pos.size(); ++i)
        out.push_back({msg.pos[i], msg.layer, 'q',
                       std::vector<float>(msg.rows.begin() + i * qd, msg.rows.begin() + (i + 1) * qd)});
      for (size_t i = 0; i < msg.kv_pos.size(); ++i) {
        out.push_back({msg.kv_pos[i], msg.layer, 'k',
                       std::vector<float>(msg.k.begin() + i * kvd, msg.k.begin() + (i + 1) * kvd)});
        out.push_back({msg.kv_pos[i], msg.layer, 'v',
                       std::vector<float>(msg.v.begin() + i * kvd, msg.v.begin() + (i + 1) * kvd)});
      }
    } else if (msg.type == MsgType::kCacheRows) {
      const size_t n = msg.kv_pos.size();
      check(msg.k.size() == (size_t)nb * n * kvd && msg.v.size() == msg.k.size(), "attn_rows: cache rows of the wrong size");
      for (int l = 0; l < nb; ++l)
        for (size_t i = 0; i < n; ++i) {
          const size_t off = ((size_t)l * n + i) * kvd;
          out.push_back({msg.kv_pos[i], F + l, 'k', std::vector<float>(msg.k.begin() + off, msg.k.begin() + off + kvd)});
          out.push_back({msg.kv_pos[i], F + l, 'v', std::vector<float>(msg.v.begin() + off, msg.v.begin() + off + kvd)});
        }
    }
  }
  return out;
}

}  // namespace cascade::attacks
