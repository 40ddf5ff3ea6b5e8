#include "plan/plan.h"

#include <algorithm>
#include <climits>
#include <functional>
#include <numeric>
#include <sstream>

#include <nlohmann/json.hpp>

#include "plan/coalition.h"
#include "util/error.h"

namespace cascade {

std::string NodeId::name(int beta) const {
  switch (role) {
    case Role::kClient: return "client";
    case Role::kComp: return "comp" + std::to_string(index);
    case Role::kAttn:
      return "attn(" + std::to_string(index / beta) + "," + std::to_string(index % beta) + ")";
  }
  return "?";
}

const char* protocol_name(Protocol p) { return p == Protocol::kPaper ? "paper" : "private"; }

Protocol parse_protocol(const std::string& s) {
  if (s == "private") return Protocol::kPrivate;
  if (s == "paper") return Protocol::kPaper;
  throw Error("unknown protocol \"" + s + "\": use private (the default: merged, masked attention) or paper " +
              "(the published design, whose per-shard partials leak the prompt)");
}

namespace {

int ceil_div(int a, int b) { return (a + b - 1) / b; }

std::string fmt_gap(int g) { return g == INT_MAX ? "inf" : std::to_string(g); }

}  // namespace

Plan Plan::make(const PlanSpec& s, const ModelConfig& cfg) {
  check(s.alpha >= 1 && s.alpha <= 4096, "plan: alpha (CompNodes) must be in 1..4096, got " + std::to_string(s.alpha));
  check(s.beta >= 1 && s.beta <= 64, "plan: beta (attention shards) must be in 1..64, got " + std::to_string(s.beta));
  check(s.c >= 0 && s.delta >= 0, "plan: c and delta must be >= 0");
  check(s.front_layers >= 0 && s.front_layers <= cfg.n_layers,
        "plan: front layers F = " + std::to_string(s.front_layers) + " must be in 0.." +
            std::to_string(cfg.n_layers) + " (the model has " + std::to_string(cfg.n_layers) + " blocks)");
  check(s.public_prefix >= 0, "plan: public prefix must be >= 0");
  check(s.protocol == Protocol::kPrivate || s.protocol == Protocol::kPaper,
        "plan: unknown protocol " + std::to_string((int)s.protocol) + "; use 0 (private) or 1 (paper)");
  check(s.client_head >= -1, "plan: client head must be >= 0 (or -1 for the default, delta)");
  // Positions are ints: keep every sum and product of them below overflow.
  check(s.c <= kMaxPositions && s.delta <= kMaxPositions && s.public_prefix <= kMaxPositions &&
            s.client_head <= kMaxPositions && s.horizon <= kMaxPositions,
        "plan: c, delta, public prefix, client head and horizon must be <= " + std::to_string(kMaxPositions) +
            " positions (the longest context a model may have)");
  Plan p;
  p.spec_ = s;
  if (p.spec_.client_head < 0) p.spec_.client_head = s.delta;
  p.head_ = s.public_prefix + p.spec_.client_head;
  p.attn_block_ = std::max(1, s.delta);
  p.comp_block_ = s.alpha > 1 ? std::max(1, ceil_div(s.delta, s.alpha - 1)) : 1;
  p.horizon_ = s.horizon > 0 ? s.horizon : std::min(cfg.context_length, 4096);
  check(p.head_ < p.horizon_ || s.front_layers == cfg.n_layers,
        "plan: the client keeps the first " + std::to_string(p.head_) +
            " positions, which covers the whole horizon; lower client_head or delta");

  if (s.c > 0) {
    const int u_need = std::max(1, s.delta);
    const int alpha_ok = 1 + ceil_div(s.delta, s.c);
    std::string fix = "; with c=" + std::to_string(s.c) + ", delta=" + std::to_string(s.delta) +
                      " use alpha >= " + std::to_string(alpha_ok) +
                      (2 * u_need <= s.c ? ", beta >= 3"
                                         : " and raise c to >= " + std::to_string(2 * u_need) +
                                               " (an off-diagonal AttnNode sees two shards: runs of 2·max(1,delta))") +
                      ", or pass c=0 to drop the c-delta requirement";
    // A node may check the plan of a session setup from its peer: bound the work.
    const int64_t positions = std::max(0, std::min(p.head_ + p.pattern_window(), p.horizon_) - p.head_);
    const int64_t work = positions * (int64_t)(s.alpha + s.beta * s.beta);
    check(work <= kMaxCheckWork,
          "plan: checking c-delta means testing " + std::to_string(s.alpha + s.beta * s.beta) + " nodes' views over " +
              std::to_string(positions) + " positions, more than a node does for a session; use fewer nodes "
              "(alpha, beta) or a smaller delta, or c=0");
    for (const NodeId& n : p.nodes()) {
      ViewStats st = p.stats(p.view(n, p.head_ + p.pattern_window()));
      if (st.count == 0) continue;
      if (st.max_run > s.c || st.min_gap < s.delta)
        throw Error("plan: view of " + n.name(s.beta) + " is not c-delta (max run " +
                    (st.min_gap == INT_MAX ? std::string("unbounded: every position") : std::to_string(st.max_run)) +
                    ", min gap " + fmt_gap(st.min_gap) + ", need run <= " +
                    std::to_string(s.c) + " and gap >= " + std::to_string(s.delta) + ")" + fix);
    }
  }
  return p;
}

int Plan::comp_of(int pos) const {
  if (pos < head_) return kClientOwned;
  return ((pos - head_) / comp_block_) % spec_.alpha;
}

int Plan::shard_of(int pos) const {
  if (pos < head_) return kClientOwned;
  return ((pos - head_) / attn_block_) % spec_.beta;
}

bool Plan::allows(const NodeId& node, RowKind kind, int pos) const {
  if (pos < 0) return false;
  switch (node.role) {
    case Role::kClient: return true;  // the client owns everything
    case Role::kComp:
      return comp_of(pos) == node.index &&
             (kind == RowKind::kHidden || kind == (is_private() ? RowKind::kMerged : RowKind::kPartial));
    case Role::kAttn:
      switch (kind) {
        case RowKind::kQuery: return shard_of(pos) == attn_q_shard(node.index);
        case RowKind::kKeyValue: return shard_of(pos) == attn_kv_shard(node.index);
        case RowKind::kPartial: return is_private() && shard_of(pos) == attn_q_shard(node.index);
        default: return false;
      }
  }
  return false;
}

int Plan::pattern_window() const {
  // A few periods (a run may wrap around a period's end), and more than c
  // positions, so that a view with no gap at all shows a run longer than c.
  // In 64 bits: alpha * comp_block alone may pass 2^31. Past kMaxWindow the
  // window is cut: views end at the horizon (<= kMaxPositions) anyway.
  const int64_t period = std::lcm((int64_t)spec_.alpha * comp_block_, (int64_t)spec_.beta * attn_block_);
  return (int)std::min<int64_t>(std::max<int64_t>(4 * period, (int64_t)spec_.c + 1), kMaxWindow);
}

std::vector<int> Plan::view(const NodeId& node, int end) const {
  std::vector<int> v;
  if (node.role == Role::kClient) return v;
  for (int p = head_; p < std::min(end, horizon_); ++p) {
    bool seen = node.role == Role::kComp ? allows(node, RowKind::kHidden, p)
                                         : allows(node, RowKind::kQuery, p) || allows(node, RowKind::kKeyValue, p);
    if (seen) v.push_back(p);
  }
  return v;
}

ViewStats Plan::stats(const std::vector<int>& positions) const {
  ViewStats st;
  st.count = (int)positions.size();
  st.min_gap = INT_MAX;
  if (positions.empty()) return st;
  st.first = positions.front();
  st.lead_gap = std::max(0, st.first - spec_.public_prefix);
  int run = 1;
  for (size_t i = 1; i < positions.size(); ++i) {
    if (positions[i] == positions[i - 1] + 1) {
      ++run;
    } else {
      st.max_run = std::max(st.max_run, run);
      st.min_gap = std::min(st.min_gap, positions[i] - positions[i - 1] - 1);
      run = 1;
    }
  }
  st.max_run = std::max(st.max_run, run);
  return st;
}

std::vector<NodeId> Plan::nodes() const {
  std::vector<NodeId> out;
  for (int r = 0; r < spec_.alpha; ++r) out.push_back({Role::kComp, r});
  for (int i = 0; i < n_attn(); ++i) out.push_back({Role::kAttn, i});
  return out;
}

Plan::Coalition Plan::worst_coalition(int k) const {
  const std::vector<NodeId> all = nodes();
  Coalition worst;
  if (k < 1 || k > (int)all.size()) return worst;
  std::vector<std::vector<int>> views;
  for (const NodeId& n : all) views.push_back(view(n, head_ + pattern_window()));
  bool first = true;
  for (const std::vector<int>& members : coalitions((int)all.size(), k)) {
    ViewStats st = stats(union_positions(views, members));
    // Worst = longest contiguous context first (a union that covers every
    // position has one long run and no gap at all), then the smallest gap,
    // then the most positions.
    const auto& w = worst.stats;
    const bool worse = st.max_run != w.max_run   ? st.max_run > w.max_run
                       : st.min_gap != w.min_gap ? st.min_gap < w.min_gap
                                                 : st.count > w.count;
    if (first || worse) {
      worst.stats = st;
      worst.members.clear();
      for (int i : members) worst.members.push_back(all[i]);
      first = false;
    }
  }
  return worst;
}

nlohmann::json Plan::to_json(int max_coalition) const {
  using nlohmann::json;
  auto js = [](const ViewStats& st) {
    return json{{"count", st.count},
                {"first", st.first},
                {"max_run", st.max_run},
                {"min_gap", st.min_gap == INT_MAX ? json(nullptr) : json(st.min_gap)},
                {"lead_gap", st.lead_gap}};
  };
  json j;
  j["alpha"] = spec_.alpha;
  j["beta"] = spec_.beta;
  j["c"] = spec_.c;
  j["delta"] = spec_.delta;
  j["front_layers"] = spec_.front_layers;
  j["public_prefix"] = spec_.public_prefix;
  j["client_head"] = spec_.client_head;
  j["head"] = head_;
  j["comp_block"] = comp_block_;
  j["attn_block"] = attn_block_;
  j["horizon"] = horizon_;
  j["protocol"] = protocol_name(spec_.protocol);
  j["nodes"] = (int)nodes().size();
  json views = json::array();
  for (const NodeId& n : nodes()) {
    json v = js(stats(view(n)));
    v["node"] = n.name(spec_.beta);
    views.push_back(v);
  }
  j["views"] = views;
  json coal = json::array();
  for (int k = 2; k <= max_coalition; ++k) {
    Coalition c = worst_coalition(k);
    json cj = js(c.stats);
    cj["k"] = k;
    json names = json::array();
    for (auto& m : c.members) names.push_back(m.name(spec_.beta));
    cj["members"] = names;
    coal.push_back(cj);
  }
  j["worst_coalitions"] = coal;
  return j;
}

std::string Plan::table() const {
  std::ostringstream o;
  o << "plan: alpha=" << spec_.alpha << " beta=" << spec_.beta << " (" << nodes().size()
    << " nodes)  c=" << spec_.c << " delta=" << spec_.delta << "  F=" << spec_.front_layers
    << "  protocol=" << protocol_name(spec_.protocol) << "  public prefix=" << spec_.public_prefix << "  client keeps positions [0," << head_ << ")\n";
  o << "rule: CompNode = ((p-" << head_ << ")/" << comp_block_ << ") mod " << spec_.alpha
    << ", attention shard = ((p-" << head_ << ")/" << attn_block_ << ") mod " << spec_.beta
    << "; views over positions [0," << horizon_ << ")\n";
  o << "node          rows  first  max_run  min_gap  lead_gap\n";
  char buf[160];
  for (const NodeId& n : nodes()) {
    ViewStats st = stats(view(n));
    snprintf(buf, sizeof buf, "%-12s %5d  %5d  %7d  %7s  %8d\n", n.name(spec_.beta).c_str(), st.count,
             st.first, st.max_run, fmt_gap(st.min_gap).c_str(), st.lead_gap);
    o << buf;
  }
  return o.str();
}

}  // namespace cascade
