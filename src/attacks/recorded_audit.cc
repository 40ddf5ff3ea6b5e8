#include "attacks/recorded_audit.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>

#include "attacks/masked_attn_attack.h"
#include "attacks/partial_attack.h"
#include "attacks/private_views.h"
#include "attacks/prior_baseline.h"
#include "util/error.h"

namespace cascade::attacks {

namespace {

using Clock = std::chrono::steady_clock;

std::vector<Message> inbox_of(const AuditSession& s, const NodeId& n) {
  std::vector<Message> inbox;
  for (const Message& msg : s.messages)
    if (msg.to == n) inbox.push_back(msg);
  return inbox;
}

// What node n learned, in the attacks' terms. Private protocol: a CompNode
// unmasks what it gets; an AttnNode's rows are usable as rows only with the
// secret (`with_secret`: it pools with a CompNode), and empty otherwise (its
// attack is masked_attn_attack on the inbox). own_rows, for a CompNode: what
// its rows alone tell it (CompNodeView::own_row_attn, and the rows).
ReceivedView view_of(const Model& m, const Plan& plan, const AuditSession& s, const NodeId& n,
                     const CompConverter& conv, const AttnConverter& aconv, bool with_secret,
                     ReceivedView* own_rows = nullptr) {
  const std::vector<Message> inbox = inbox_of(s, n);
  check(n.role != Role::kClient, "audit_recorded: the client is trusted and is not audited");
  auto comp = [&](CompNodeView cv) {
    if (own_rows) *own_rows = ReceivedView{std::move(cv.own_row_attn), cv.view.rows};
    return std::move(cv.view);
  };
  if (plan.is_private()) {
    check(!s.secret.empty(), "audit_recorded: a private-protocol session needs its secret");
    if (n.role == Role::kComp) return comp(private_comp_view(m, plan, inbox, n.index, s.secret));
    return with_secret ? unmasked_attn_view(m, plan, inbox, n.index, s.secret) : ReceivedView{};
  }
  if (n.role == Role::kComp) return comp(conv(m, plan, inbox, n.index));
  return ReceivedView{{}, aconv(m, plan, inbox, n.index)};
}

void append(ReceivedView& a, ReceivedView b) {
  for (auto& o : b.attn) a.attn.push_back(std::move(o));
  for (auto& r : b.rows) a.rows.push_back(std::move(r));
}

// Adds one session's result to a tally; hits[p] = position p recovered.
std::vector<uint8_t> tally(AttackTally& t, const std::vector<int32_t>& rec, const std::vector<uint8_t>* covered,
                           const AuditSession& s, int public_prefix, int head) {
  const int n = (int)s.tokens.size();
  std::vector<uint8_t> hits(n, 0), canary(n, 0);
  for (int p : s.canary)
    if (p >= 0 && p < n) canary[p] = 1;
  for (int p = public_prefix; p < n; ++p) {
    const bool hit = rec[p] == s.tokens[p];
    hits[p] = hit;
    t.private_positions++;
    t.recovered += hit;
    if (p < head) {
      t.head_positions++;
      t.head_recovered += hit;
    }
    if (canary[p]) {
      t.canary_positions++;
      t.canary_recovered += hit;
    }
    if (covered && (*covered)[p]) {
      t.covered_positions++;
      t.covered_recovered += hit;
    }
  }
  return hits;
}

AttackTally& tally_named(std::vector<AttackTally>& v, const std::string& name) {
  for (AttackTally& t : v)
    if (t.attack == name) return t;
  v.push_back({});
  v.back().attack = name;
  return v.back();
}

}  // namespace

RecordedAuditReport audit_recorded(const Model& m, const Plan& plan, const std::vector<AuditSession>& sessions,
                                   const RecordedAuditOptions& opts,
                                   const std::function<void(const std::string&, int, int)>& progress) {
  check(!sessions.empty(), "audit_recorded: no sessions to audit");
  const CompConverter conv = opts.comp_converter ? opts.comp_converter : CompConverter(paper_comp_view);
  const AttnConverter aconv =
      opts.attn_converter ? opts.attn_converter
                          : AttnConverter([](const Model& mm, const Plan& pl, const std::vector<Message>& in, int) {
                              return attn_rows(mm, pl, in);
                            });
  const int pp = plan.spec().public_prefix, head = plan.head();
  RecordedAuditReport rep;
  rep.n_sessions = (int)sessions.size();
  std::vector<NodeId> nodes = plan.nodes();
  if (opts.comp_only)
    nodes.erase(std::remove_if(nodes.begin(), nodes.end(), [](const NodeId& n) { return n.role != Role::kComp; }),
                nodes.end());
  for (const NodeId& n : nodes) rep.parties.push_back({n.name(plan.beta()), {n}, "node", {}});
  // hits[party][session][position] of each party's first attack.
  std::vector<std::vector<std::vector<uint8_t>>> hits(nodes.size(), std::vector<std::vector<uint8_t>>(sessions.size()));

  auto run = [&](const ReceivedView& v, const AuditSession& s, bool prior, AttackTally& t) {
    std::vector<std::pair<int, int32_t>> known;
    for (int p = 0; p < pp && p < (int)s.tokens.size(); ++p) known.push_back({p, s.tokens[p]});
    PartialAttackOptions po;
    po.model_order = prior;
    po.budget = opts.budget;
    const auto t0 = Clock::now();
    PartialAttackResult r = partial_attack(m, v, known, (int)s.tokens.size(), po);
    t.seconds += std::chrono::duration<double>(Clock::now() - t0).count();
    t.candidates_tried += r.candidates_tried;
    return tally(t, r.recovered, &r.covered, s, pp, head);
  };

  for (size_t si = 0; si < sessions.size(); ++si) {
    const AuditSession& s = sessions[si];
    check(!s.tokens.empty(), "audit_recorded: a session without tokens");
    std::vector<std::pair<int, int32_t>> known;
    for (int p = 0; p < pp && p < (int)s.tokens.size(); ++p) known.push_back({p, s.tokens[p]});
    PriorBaseline b = prior_baseline(m, s.tokens, known);
    tally(tally_named(rep.baselines, "prior_greedy"), b.greedy, nullptr, s, pp, head);
    tally(tally_named(rep.baselines, "prior_teacher_forced"), b.teacher_forced, nullptr, s, pp, head);
    // Nodes are independent: one thread each (each touches only its own
    // tallies), as many as there are cores.
    std::vector<std::string> errors(nodes.size());
#pragma omp parallel for schedule(dynamic, 1)
    for (size_t i = 0; i < nodes.size(); ++i) {
      try {
        RecordedParty& pa = rep.parties[i];
        if (plan.is_private() && nodes[i].role == Role::kAttn) {
          std::vector<int32_t> known(s.tokens.size(), -1);
          for (int p = 0; p < pp && p < (int)s.tokens.size(); ++p) known[p] = s.tokens[p];
          AttackTally& t = tally_named(pa.attacks, "masked_scores");
          const auto t0 = Clock::now();
          MaskedAttnResult r = masked_attn_attack(m, plan, nodes[i].index, inbox_of(s, nodes[i]), known);
          t.seconds += std::chrono::duration<double>(Clock::now() - t0).count();
          t.candidates_tried += r.candidates_tried;
          std::vector<uint8_t> covered(s.tokens.size(), 0);
          for (int p : r.seen) covered[p] = 1;
          hits[i][si] = tally(t, r.guess, &covered, s, pp, head);
          continue;
        }
        ReceivedView own;
        ReceivedView v = view_of(m, plan, s, nodes[i], conv, aconv, false, &own);
        if (nodes[i].role == Role::kComp) {
          hits[i][si] = run(v, s, true, tally_named(pa.attacks, "partial"));
          if (opts.no_prior) run(v, s, false, tally_named(pa.attacks, "partial_no_prior"));
          run(ReceivedView{{}, v.rows}, s, true, tally_named(pa.attacks, "rows_only"));
          run(own, s, true, tally_named(pa.attacks, "own_rows"));
        } else {
          hits[i][si] = run(v, s, true, tally_named(pa.attacks, "rows"));
        }
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    }
    for (const std::string& e : errors)
      if (!e.empty()) throw Error(e);
    if (progress) progress("nodes", (int)si + 1, (int)sessions.size());
  }
  rep.private_positions = rep.baselines.empty() ? 0 : rep.baselines[0].private_positions;
  if (opts.max_coalition < 2) return rep;

  // Coalitions: structure, then results (positions the members' single attacks cover together).
  std::vector<std::pair<std::vector<int>, std::string>> chosen;
  auto index_of = [&](const NodeId& n) {
    return (int)(std::find(nodes.begin(), nodes.end(), n) - nodes.begin());
  };
  auto add = [&](std::vector<int> members, const std::string& why) {
    std::sort(members.begin(), members.end());
    for (const auto& c : chosen)
      if (c.first == members) return;
    chosen.push_back({members, why});
  };
  for (int k = 2; k <= std::min(opts.max_coalition, 3) && !opts.comp_only; ++k) {
    std::vector<int> mem;
    for (const NodeId& n : plan.worst_coalition(k).members) mem.push_back(index_of(n));
    add(mem, "structure");
  }
  if (plan.is_private() && !opts.comp_only) {
    // comp0 with the merger of its first private row's shard in block F:
    // the pair that unmasks every other shard's partial of that shard's rows
    // in one block (docs/PRIVACY.md, coalitions).
    const NodeId comp0{Role::kComp, 0};
    const std::vector<int> rows = plan.view(comp0);
    if (!rows.empty()) add({index_of(comp0), index_of(plan.merger(plan.shard_of(rows[0]), plan.front_layers()))},
                           "comp+merger");
  }
  auto union_hits = [&](const std::vector<int>& mem) {
    int64_t c = 0;
    for (size_t si = 0; si < sessions.size(); ++si)
      for (size_t p = 0; p < sessions[si].tokens.size(); ++p) {
        bool any = false;
        for (int i : mem) any = any || hits[i][si][p];
        c += any;
      }
    return c;
  };
  std::vector<std::pair<int64_t, std::vector<int>>> pairs;
  for (size_t i = 0; i < nodes.size(); ++i)
    for (size_t j = i + 1; j < nodes.size(); ++j) pairs.push_back({union_hits({(int)i, (int)j}), {(int)i, (int)j}});
  std::stable_sort(pairs.begin(), pairs.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (int k = 0; k < opts.result_pairs && k < (int)pairs.size(); ++k) add(pairs[k].second, "results");
  if (opts.max_coalition >= 3) {
    std::vector<std::pair<int64_t, std::vector<int>>> triples;
    std::set<std::vector<int>> seen;
    for (int k = 0; k < std::max(1, opts.result_pairs) && k < (int)pairs.size(); ++k)
      for (size_t x = 0; x < nodes.size(); ++x) {
        std::vector<int> mem = pairs[k].second;
        if (std::find(mem.begin(), mem.end(), (int)x) != mem.end()) continue;
        mem.push_back((int)x);
        std::sort(mem.begin(), mem.end());
        if (seen.insert(mem).second) triples.push_back({union_hits(mem), mem});
      }
    std::stable_sort(triples.begin(), triples.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    for (int k = 0; k < opts.result_triples && k < (int)triples.size(); ++k) add(triples[k].second, "results");
  }
  const size_t first = rep.parties.size();
  for (const auto& [mem, why] : chosen) {
    RecordedParty pa;
    pa.chosen_by = why;
    for (int i : mem) {
      pa.members.push_back(nodes[i]);
      pa.name += (pa.name.empty() ? "" : "+") + nodes[i].name(plan.beta());
    }
    pa.attacks.push_back({});
    pa.attacks.back().attack = "joint";
    rep.parties.push_back(std::move(pa));
  }
  for (size_t si = 0; si < sessions.size(); ++si) {
    std::vector<std::string> errors(chosen.size());
#pragma omp parallel for schedule(dynamic, 1)
    for (size_t ci = 0; ci < chosen.size(); ++ci) {
      try {
        RecordedParty& pa = rep.parties[first + ci];
        const AuditSession& s = sessions[si];
        bool has_comp = false;
        for (const NodeId& n : pa.members) has_comp = has_comp || n.role == Role::kComp;
        if (plan.is_private() && !has_comp) {
          // Masked AttnNodes only: each member's own masks, so they pool hits, not rows.
          std::vector<int32_t> rec(s.tokens.size(), -1);
          for (size_t p = 0; p < s.tokens.size(); ++p)
            for (int i : chosen[ci].first)
              if (hits[i][si][p]) rec[p] = s.tokens[p];
          tally(pa.attacks[0], rec, nullptr, s, pp, head);
        } else {
          ReceivedView v;
          for (const NodeId& n : pa.members) append(v, view_of(m, plan, s, n, conv, aconv, has_comp));
          run(v, s, true, pa.attacks[0]);
        }
      } catch (const std::exception& e) {
        errors[ci] = e.what();
      }
    }
    for (const std::string& e : errors)
      if (!e.empty()) throw Error(e);
    if (progress) progress("coalitions", (int)si + 1, (int)sessions.size());
  }
  return rep;
}

namespace {

nlohmann::json tally_json(const AttackTally& t) {
  return {{"attack", t.attack},
          {"private_positions", t.private_positions},
          {"recovered", t.recovered},
          {"fraction", t.fraction()},
          {"head_positions", t.head_positions},
          {"head_recovered", t.head_recovered},
          {"canary_positions", t.canary_positions},
          {"canary_recovered", t.canary_recovered},
          {"covered_positions", t.covered_positions},
          {"covered_recovered", t.covered_recovered},
          {"candidates_tried", t.candidates_tried},
          {"seconds", t.seconds}};
}

std::string pct(int64_t a, int64_t b) {
  if (b == 0) return "-";
  char buf[32];
  snprintf(buf, sizeof buf, "%.1f %%", 100.0 * a / b);
  return buf;
}

}  // namespace

nlohmann::json to_json(const RecordedAuditReport& r) {
  nlohmann::json j;
  j["n_sessions"] = r.n_sessions;
  j["private_positions"] = r.private_positions;
  j["baselines"] = nlohmann::json::array();
  for (const auto& t : r.baselines) j["baselines"].push_back(tally_json(t));
  j["parties"] = nlohmann::json::array();
  for (const auto& p : r.parties) {
    nlohmann::json pj{{"name", p.name}, {"chosen_by", p.chosen_by}, {"attacks", nlohmann::json::array()}};
    for (const auto& t : p.attacks) pj["attacks"].push_back(tally_json(t));
    j["parties"].push_back(pj);
  }
  return j;
}

std::string to_table(const RecordedAuditReport& r) {
  double base = 0, base_head = 0, base_canary = 0;
  for (const auto& t : r.baselines)
    if (t.attack == "prior_greedy") {
      base = t.fraction();
      base_head = t.head_fraction();
      base_canary = t.canary_fraction();
    }
  std::ostringstream s;
  s << "| party | chosen by | attack | recovered | excess over prior_greedy | client head | canary tokens | "
       "covered | candidates / private position |\n|---|---|---|---|---|---|---|---|---|\n";
  auto row = [&](const std::string& name, const std::string& why, const AttackTally& t) {
    char ex[32];
    snprintf(ex, sizeof ex, "%+.1f pts", 100.0 * (t.fraction() - base));
    char cand[32];
    snprintf(cand, sizeof cand, "%.1f", t.private_positions ? (double)t.candidates_tried / t.private_positions : 0.0);
    s << "| " << name << " | " << why << " | " << t.attack << " | " << pct(t.recovered, t.private_positions) << " | "
      << ex << " | " << pct(t.head_recovered, t.head_positions) << " | "
      << pct(t.canary_recovered, t.canary_positions) << " | " << pct(t.covered_positions, t.private_positions)
      << " | " << cand << " |\n";
  };
  for (const auto& t : r.baselines) row("(no view)", "baseline", t);
  for (const auto& p : r.parties)
    for (const auto& t : p.attacks) row(p.name, p.chosen_by, t);
  char foot[200];
  snprintf(foot, sizeof foot,
           "\n%d sessions, %lld private positions; prior_greedy: %.1f %% overall, %.1f %% of client-head "
           "tokens, %.1f %% of canary tokens.\n",
           r.n_sessions, (long long)r.private_positions, 100 * base, 100 * base_head, 100 * base_canary);
  s << foot;
  return s.str();
}

}  // namespace cascade::attacks
