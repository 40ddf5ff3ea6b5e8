#include "plan/advise.h"

#include <algorithm>
#include <cstdio>

#include "util/error.h"

namespace cascade {

namespace {

// View shares over one pattern window past the head, where views repeat.
PlanAdvice measure(const PlanSpec& spec, const ModelConfig& cfg, int prompt) {
  Plan plan = Plan::make(spec, cfg);
  const int end = plan.head() + plan.pattern_window();
  const double window = plan.pattern_window();
  PlanAdvice a;
  a.spec = spec;
  a.nodes = plan.alpha() + plan.n_attn();
  a.head = plan.head();
  for (const NodeId& n : plan.nodes())
    a.single_exposure = std::max(a.single_exposure, plan.view(n, end).size() / window);
  a.pair_exposure = plan.alpha() + plan.n_attn() >= 2 ? plan.worst_coalition(2).stats.count / window : a.single_exposure;
  const double L = cfg.n_layers, F = spec.front_layers, head = std::min(plan.head(), prompt);
  a.client_share = (head * L + (prompt - head) * F) / (prompt * L);
  return a;
}

}  // namespace

std::vector<PlanAdvice> advise_plans(const ModelConfig& cfg, double target, int max_nodes, int front, int prompt,
                                     int top) {
  check(target > 0 && target <= 1, "plan advice: --target must be a share of positions in (0, 1], got " +
                                       std::to_string(target));
  check(front >= 0 && front <= cfg.n_layers, "plan advice: -F must be in 0.." + std::to_string(cfg.n_layers));
  check(prompt >= 1, "plan advice: the prompt length must be >= 1");
  std::vector<PlanAdvice> fits;
  double best = 1;
  for (int delta = 1; delta <= 4; ++delta)
    for (int beta = 3; beta <= 8; ++beta)
      for (int alpha = 2; alpha <= 16; ++alpha) {
        if (alpha + beta * beta > max_nodes) continue;
        PlanSpec s{.alpha = alpha, .beta = beta, .c = 2 * delta, .delta = delta, .front_layers = front,
                   .horizon = std::min(cfg.context_length, 4096)};
        // Cheap bound first: a CompNode sees 1/α, an off-diagonal AttnNode 2/β.
        if (std::max(1.0 / alpha, 2.0 / beta) > target + 1e-9) {
          best = std::min(best, std::max(1.0 / alpha, 2.0 / beta));
          continue;
        }
        PlanAdvice a;
        try {
          a = measure(s, cfg, prompt);
        } catch (const Error&) {
          continue;  // not c-delta for this shape
        }
        best = std::min(best, a.single_exposure);
        if (a.single_exposure <= target + 1e-9) fits.push_back(a);
      }
  if (fits.empty()) {
    char buf[200];
    snprintf(buf, sizeof buf,
             "plan advice: no plan within %d nodes keeps every node at or under %.3f of the positions (best: %.3f); "
             "raise --max-nodes or --target",
             max_nodes, target, best);
    throw Error(buf);
  }
  std::sort(fits.begin(), fits.end(), [](const PlanAdvice& x, const PlanAdvice& y) {
    if (x.nodes != y.nodes) return x.nodes < y.nodes;
    if (x.pair_exposure != y.pair_exposure) return x.pair_exposure < y.pair_exposure;
    return x.spec.delta > y.spec.delta;
  });
  if ((int)fits.size() > top) fits.resize(top);
  return fits;
}

}  // namespace cascade
