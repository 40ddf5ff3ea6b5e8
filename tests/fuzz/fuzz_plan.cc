// Fuzz target: plan specs, as `cascade plan`, a manifest's "plan" and a
// session setup give them.
//
// Input: JSON {"plan": {alpha, beta, c, delta, F, public_prefix,
// client_head, horizon, protocol}, "layers": L, "context": N}. The spec goes
// through plan_spec_from_json; layers and context replace a small model's,
// which validate_config checks; then Plan::make, and every product of a plan
// the CLI and the nodes use: each node's view and its stats, the worst
// coalition of 2, the JSON and the table.
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "net/manifest.h"
#include "plan/plan.h"
#include "tests/fuzz/fuzz_util.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cascade;
  fuzz::quiet();
  const nlohmann::json j = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return 0;
  ModelConfig cfg;
  cfg.dim = 64;
  cfg.hidden_dim = 128;
  cfg.n_layers = 4;
  cfg.n_heads = 4;
  cfg.n_kv_heads = 4;
  cfg.head_dim = 16;
  cfg.vocab_size = 320;
  cfg.context_length = 128;
  try {
    const PlanSpec spec = plan_spec_from_json(j.contains("plan") ? j["plan"] : nlohmann::json::object());
    for (const char* key : {"layers", "context"}) {
      if (!j.contains(key)) continue;
      check(j[key].is_number_integer(), "not an integer");
      const long long v = j[key].get<long long>();
      check(v >= INT32_MIN && v <= INT32_MAX, "out of int range");
      (std::string(key) == "layers" ? cfg.n_layers : cfg.context_length) = (int)v;
    }
    validate_config(cfg);
    const Plan plan = Plan::make(spec, cfg);
    // The reports below cost nodes x horizon (x nodes for the coalitions):
    // what `cascade plan` prints for the plan asked for. Keep them to plans
    // a fuzzer can afford; Plan::make above is what a node runs on a spec
    // from its peer and must be cheap for every spec.
    if ((int64_t)plan.nodes().size() * plan.nodes().size() * plan.horizon() > (1 << 22)) return 0;
    for (const NodeId& n : plan.nodes()) {
      const std::vector<int> v = plan.view(n);
      (void)plan.stats(v);
      for (int pos : {0, plan.head(), plan.horizon() - 1})
        for (RowKind kind : {RowKind::kHidden, RowKind::kQuery, RowKind::kKeyValue, RowKind::kPartial, RowKind::kMerged})
          (void)plan.allows(n, kind, pos);
    }
    (void)plan.worst_coalition(2);
    (void)plan.to_json(2).dump();
    (void)plan.table();
  } catch (const Error&) {
  }
  return 0;
}
