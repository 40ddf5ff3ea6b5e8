#include "attacks/audit_report.h"

#include <cstdio>
#include <numeric>
#include <sstream>

#include "plan/coalition.h"

namespace cascade::attacks {

namespace {

// The attacks in the order of the table's columns and the chart's bars.
const char* const kAttacks[] = {"vocab_match", "context_free_after_bos", "context_free_filler", "ridge_inverter"};

}  // namespace

void add_plan_parties(const Plan& plan, int max_coalition, AuditConfig& cfg) {
  cfg.known_positions.clear();
  for (int p = 0; p < plan.spec().public_prefix; ++p) cfg.known_positions.push_back(p);
  for (const NodeId& n : plan.nodes()) {
    cfg.party_positions.push_back(plan.view(n));
    cfg.party_names.push_back(n.name(plan.beta()));
  }
  for (int k = 2; k <= max_coalition; ++k) {
    Plan::Coalition c = plan.worst_coalition(k);
    std::vector<std::vector<int>> member_views;
    std::string name;
    for (const NodeId& n : c.members) {
      member_views.push_back(plan.view(n));
      name += (name.empty() ? "" : "+") + n.name(plan.beta());
    }
    std::vector<int> everyone(member_views.size());
    std::iota(everyone.begin(), everyone.end(), 0);
    cfg.party_positions.push_back(union_positions(member_views, everyone));
    cfg.party_names.push_back(name);
  }
}

std::string audit_table(const AuditReport& r) {
  std::string out;
  char line[256];
  snprintf(line, sizeof line, "%-34s %6s  %11s  %11s  %11s  %11s\n", "party", "seen", "vocab_match", "cf_bos",
           "cf_filler", "ridge");
  out += line;
  for (const auto& p : r.parties) {
    snprintf(line, sizeof line, "%-34s %6zu ", p.name.c_str(), p.positions.size());
    out += line;
    for (const char* at : kAttacks) {
      double f = -1;
      for (const auto& sc : p.attacks)
        if (sc.attack == at) f = sc.fraction_of_prompt();
      if (f < 0) snprintf(line, sizeof line, "  %11s", "-");
      else snprintf(line, sizeof line, "  %10.1f%%", 100 * f);
      out += line;
    }
    out += "\n";
  }
  return out;
}

std::string audit_svg(const AuditReport& r, const std::string& title) {
  const char* colors[] = {"#d62728", "#1f77b4", "#2ca02c", "#ff7f0e"};
  const int n_attacks = (int)std::size(kAttacks);
  const int bar = 5, group = bar * n_attacks + 6, left = 150, width = 420;
  const int height = 60 + group * (int)r.parties.size();
  std::ostringstream s;
  s << "<svg xmlns='http://www.w3.org/2000/svg' width='" << left + width + 40 << "' height='" << height
    << "' font-family='sans-serif' font-size='10'>\n<rect width='100%' height='100%' fill='white'/>\n"
    << "<text x='10' y='16' font-size='13'>" << title << "</text>\n";
  for (int a = 0; a < n_attacks; ++a)
    s << "<rect x='" << 10 + a * 150 << "' y='24' width='10' height='10' fill='" << colors[a] << "'/><text x='"
      << 24 + a * 150 << "' y='33'>" << kAttacks[a] << "</text>\n";
  for (int t = 0; t <= 4; ++t) {
    int x = left + width * t / 4;
    s << "<line x1='" << x << "' y1='40' x2='" << x << "' y2='" << height - 10 << "' stroke='#ddd'/><text x='"
      << x - 8 << "' y='" << height - 1 << "'>" << 25 * t << "%</text>\n";
  }
  for (size_t p = 0; p < r.parties.size(); ++p) {
    const int y0 = 44 + group * (int)p;
    s << "<text x='" << left - 6 << "' y='" << y0 + 12 << "' text-anchor='end'>" << r.parties[p].name << "</text>\n";
    for (int a = 0; a < n_attacks; ++a)
      for (const auto& sc : r.parties[p].attacks)
        if (sc.attack == kAttacks[a])
          s << "<rect x='" << left << "' y='" << y0 + bar * a << "' width='" << width * sc.fraction_of_prompt()
            << "' height='" << bar - 1 << "' fill='" << colors[a] << "'/>\n";
  }
  s << "</svg>\n";
  return s.str();
}

}  // namespace cascade::attacks
