// The view-model audit (audit.h) of a Cascade plan, and its report: the
// plan's parties as audit input, and the results as a text table and as an
// SVG bar chart. `cascade audit --views` prints and writes these.
#pragma once

#include <string>

#include "attacks/audit.h"
#include "plan/plan.h"

namespace cascade::attacks {

// Adds every node of `plan`, then its worst coalition of each size 2..
// max_coalition (Plan::worst_coalition; the union of its members' views), to
// cfg's parties, and sets the known positions to the plan's public prefix.
void add_plan_parties(const Plan& plan, int max_coalition, AuditConfig& cfg);

// One line per party: its name, positions seen, and the fraction of each
// prompt's private tokens each attack recovers ("-" where it did not run),
// under a header line.
std::string audit_table(const AuditReport& r);

// A horizontal bar chart of each attack's fraction per party, as an SVG
// document titled `title`.
std::string audit_svg(const AuditReport& r, const std::string& title);

}  // namespace cascade::attacks
