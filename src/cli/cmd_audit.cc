// cascade audit: attack every node of a plan.
//
// Default: run model-generated prompts (and canary prompts with planted
// secrets) through the in-process cluster, record every message each role
// receives, and attack those recordings (recorded_audit.h): CompNodes with
// the partial-output attack, AttnNodes on their q/k/v rows at every block,
// coalitions of up to 3 on their pooled views; next to the no-view baseline.
//
// --views: the older audit of a model of the views (audit.h): each node is
// attacked on the residual rows of the positions in its view at layer ℓ
// (default F). It does not see attention partials; AttnNodes get q/k/v,
// not residual rows.
#include <cstdio>
#include <fstream>
#include <memory>

#include <nlohmann/json.hpp>

#include "attacks/audit.h"
#include "attacks/audit_report.h"
#include "attacks/prompt_sets.h"
#include "attacks/recorded_audit.h"
#include "cli/commands.h"
#include "nodes/recorded_run.h"
#include "tokenizer/tokenizer.h"
#include "util/atomic_file.h"
#include "util/error.h"

namespace cascade::cli {

namespace {

// The audit of recorded sessions (the default mode).
struct RecordedArgs {
  int canaries = 20;
  int generate = 0;
  bool skip_no_prior = false;
  bool comp_only = false;
  bool merged = false;
  int min_len = 16, max_len = 32;
  std::string table;
};

void run_recorded_audit(const Model& m, const Tokenizer& tok, const Plan& plan, const std::string& model_name,
                        int n_prompts, uint64_t seed, int64_t budget, int coalition, const RecordedArgs& ra,
                        const std::string& json_path) {
  attacks::PromptSetOptions po;
  po.count = n_prompts;
  po.seed = seed;
  po.bos = tok.bos();
  po.eos = tok.eos();
  po.min_len = ra.min_len;
  po.max_len = ra.max_len;
  check(ra.min_len >= 2 && ra.max_len >= ra.min_len && ra.max_len <= m.cfg.context_length,
        "--min-len/--max-len: need 2 <= min <= max <= the model's context (" + std::to_string(m.cfg.context_length) + ")");
  fprintf(stderr, "generating %d prompts and %d canary prompts ...\n", n_prompts, ra.canaries);
  std::vector<attacks::AuditSession> sessions;
  std::vector<std::vector<int32_t>> prompts = attacks::generate_prompts(m, po);
  std::vector<std::vector<int>> canary_pos(prompts.size());
  if (ra.canaries > 0)
    for (auto& cp : attacks::canary_prompts(m, tok, ra.canaries, seed + 5000)) {
      prompts.push_back(cp.tokens);
      canary_pos.push_back(cp.canary);
    }
  for (size_t i = 0; i < prompts.size(); ++i) {
    check((int)prompts[i].size() + ra.generate <= m.cfg.context_length,
          "--generate: prompt plus generated tokens exceed the model's context; lower --generate");
    RecordedRun run = record_run(m, plan, prompts[i], ra.generate);
    sessions.push_back({std::move(run.tokens), std::move(run.messages), canary_pos[i], std::move(run.secret)});
    fprintf(stderr, "\rrecording: %zu/%zu sessions", i + 1, prompts.size());
  }
  fprintf(stderr, "\n");
  attacks::RecordedAuditOptions opts;
  opts.budget = budget;
  opts.no_prior = !ra.skip_no_prior;
  opts.max_coalition = coalition;
  opts.comp_only = ra.comp_only;
  if (ra.merged)
    opts.comp_converter = [](const Model& mm, const Plan& pl, const std::vector<Message>& in, int r) {
      attacks::CompNodeView v = attacks::paper_comp_view(mm, pl, in, r);
      v.view.attn = attacks::merge_observations(v.view.attn);
      return v;
    };
  attacks::RecordedAuditReport r =
      attacks::audit_recorded(m, plan, sessions, opts, [&](const std::string& stage, int done, int total) {
        fprintf(stderr, "\raudit: %-10s %3d%% (%d/%d)", stage.c_str(), total ? 100 * done / total : 100, done, total);
        if (done == total) fprintf(stderr, "\n");
      });
  printf("audit of recorded sessions: %s, %d prompts of %d-%d tokens + %d canary prompts, %d generated tokens each, "
         "%s protocol, plan alpha=%d beta=%d c=%d delta=%d F=%d head=%d, budget %s%s%s\n\n",
         model_name.c_str(), n_prompts, ra.min_len, ra.max_len, ra.canaries, ra.generate,
         protocol_name(plan.protocol()), plan.alpha(), plan.beta(), plan.spec().c,
         plan.spec().delta, plan.front_layers(), plan.head(),
         budget > 0 ? (std::to_string(budget) + " candidates/position").c_str() : "whole vocabulary",
         ra.comp_only ? ", CompNodes only" : "", ra.merged ? ", CompNodes' partials merged per row" : "");
  const std::string table = attacks::to_table(r);
  printf("%s", table.c_str());
  if (!ra.table.empty()) {
    write_file_atomic(ra.table, table);
    fprintf(stderr, "wrote %s\n", ra.table.c_str());
  }
  if (!json_path.empty()) {
    nlohmann::json j = attacks::to_json(r);
    j["model"] = model_name;
    j["protocol"] = protocol_name(plan.protocol());
    j["merged_partials"] = ra.merged;
    j["prompts"] = n_prompts;
    j["canary_prompts"] = ra.canaries;
    j["generated_tokens"] = ra.generate;
    j["min_len"] = ra.min_len;
    j["max_len"] = ra.max_len;
    j["comp_only"] = ra.comp_only;
    j["seed"] = seed;
    j["budget"] = budget;
    j["plan"] = plan.to_json(coalition);
    write_file_atomic(json_path, j.dump(2) + "\n");
    fprintf(stderr, "wrote %s\n", json_path.c_str());
  }
}

}  // namespace

void add_audit(CLI::App& app) {
  struct Args {
    ModelOptions model;
    PlanSpec plan;
    int prompts = 100;
    int layer = -1;
    int coalition = 3;
    int64_t budget = -1;
    uint64_t seed = 1;
    bool views = false;
    RecordedArgs recorded;
    std::string json, svg;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("audit", "measure what each node of a plan recovers with our attacks");
  add_model_options(cmd, a->model);
  add_plan_options(cmd, a->plan);
  cmd->add_option("--prompts", a->prompts, "model-generated prompts to attack")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--coalition", a->coalition, "also audit coalitions up to this size (1: none)")
      ->capture_default_str()
      ->check(CLI::Range(1, 3));
  cmd->add_option("--budget", a->budget,
                  "candidates per position (default: the whole vocabulary; --views: 1024 per seen row)")
      ->check(CLI::Range((int64_t)1, (int64_t)1 << 40));
  cmd->add_option("--seed", a->seed, "prompt seed")->capture_default_str();
  cmd->add_option("--json", a->json, "write the report as JSON");
  cmd->add_option("--canaries", a->recorded.canaries, "prompts with a planted secret (name and digits)")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  cmd->add_option("--generate", a->recorded.generate, "greedy tokens generated per prompt (their steps are recorded too)")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  cmd->add_flag("--skip-no-prior", a->recorded.skip_no_prior,
                "do not run the CompNode attack in token-id order (no model prior)");
  cmd->add_option("--table", a->recorded.table, "write the results table as markdown");
  cmd->add_flag("--comp-only", a->recorded.comp_only, "audit CompNodes only (and coalitions of them)");
  cmd->add_flag("--merged-partials", a->recorded.merged,
                "attack CompNodes on each row's partials merged into one result (out and LSE over every key "
                "up to the row): what a CompNode of a merged-output protocol that also gets the LSE learns");
  cmd->add_option("--min-len", a->recorded.min_len, "shortest prompt, tokens with BOS")->capture_default_str();
  cmd->add_option("--max-len", a->recorded.max_len, "longest prompt, tokens with BOS")->capture_default_str();
  cmd->add_flag("--views", a->views, "audit a model of the views (residual rows at one layer) instead of recordings");
  cmd->add_option("--layer", a->layer, "--views: residual layer the nodes' rows are taken at (default: F)");
  cmd->add_option("--svg", a->svg, "--views: write a bar chart of the results as SVG");
  cmd->callback([a] {
    if (!a->views) {
      check(a->layer < 0 && a->svg.empty(), "--layer and --svg apply to --views only; add --views or drop them");
      check(!a->recorded.merged || a->plan.protocol == Protocol::kPaper,
            "--merged-partials merges the paper protocol's partials; add --protocol paper (the private protocol "
            "already hands each CompNode one merged output)");
    } else {
      check(a->recorded.table.empty() && a->recorded.generate == 0 && !a->recorded.skip_no_prior &&
                !a->recorded.comp_only && !a->recorded.merged && a->recorded.min_len == 16 && a->recorded.max_len == 32,
            "--table, --generate, --skip-no-prior, --comp-only, --merged-partials, --min-len and --max-len apply to recorded audits "
            "only; drop them or --views");
    }
    LoadedModel lm = load_with_progress(a->model);
    Tokenizer tok(std::move(*lm.vocab));
    const Model& m = lm.model;
    Plan plan = Plan::make(a->plan, m.cfg);
    if (!a->views) {
      run_recorded_audit(m, tok, plan, a->model.model, a->prompts, a->seed, std::max<int64_t>(0, a->budget),
                         a->coalition, a->recorded, a->json);
      return;
    }
    if (a->budget < 0) a->budget = 1024;
    const int layer = a->layer >= 0 ? a->layer : a->plan.front_layers;
    check(layer >= 0 && layer <= m.cfg.n_layers, "--layer must be in 0.." + std::to_string(m.cfg.n_layers));

    attacks::PromptSetOptions po;
    po.count = a->prompts;
    po.seed = a->seed;
    po.bos = tok.bos();
    po.eos = tok.eos();
    fprintf(stderr, "generating %d prompts ...\n", a->prompts);
    auto prompts = attacks::generate_prompts(m, po);

    attacks::AuditConfig cfg;
    cfg.layer = layer;
    cfg.vocab_match_budget = a->budget;
    attacks::CalibrationPrompts cal = attacks::calibration_prompts(m, po);
    cfg.calibration_prompts = std::move(cal.held_out);
    cfg.inverter_training_prompts = std::move(cal.inverter_training);
    attacks::add_plan_parties(plan, a->coalition, cfg);
    int last_pct = -1;
    std::string last_stage;
    attacks::AuditReport r = attacks::run_audit(m, &tok, prompts, cfg, [&](const std::string& stage, int done, int total) {
      int pct = total ? 100 * done / total : 100;
      if (stage != last_stage || pct != last_pct) {
        fprintf(stderr, "\raudit: %-10s %3d%% (%d/%d)", stage.c_str(), pct, done, total);
        if (done == total) fprintf(stderr, "\n");
        last_stage = stage;
        last_pct = pct;
      }
    });

    printf("audit: %s, layer %d, %d prompts, plan alpha=%d beta=%d c=%d delta=%d F=%d head=%d, "
           "epsilon %.4g, vocab-match budget %lld/row\n",
           a->model.model.c_str(), layer, r.n_prompts, plan.alpha(), plan.beta(), a->plan.c, a->plan.delta,
           a->plan.front_layers, plan.head(), r.epsilon, (long long)a->budget);
    printf("fraction of each prompt's private tokens recovered:\n%s", attacks::audit_table(r).c_str());
    nlohmann::json j = attacks::to_json(r);
    j["plan"] = plan.to_json(a->coalition);
    if (!a->json.empty()) {
      write_file_atomic(a->json, j.dump(2) + "\n");
      fprintf(stderr, "wrote %s\n", a->json.c_str());
    }
    if (!a->svg.empty()) {
      char title[200];
      snprintf(title, sizeof title, "Cascade audit: alpha=%d beta=%d c=%d delta=%d F=%d, layer %d, %d prompts",
               plan.alpha(), plan.beta(), a->plan.c, a->plan.delta, a->plan.front_layers, layer, r.n_prompts);
      write_file_atomic(a->svg, attacks::audit_svg(r, title));
      fprintf(stderr, "wrote %s\n", a->svg.c_str());
    }
  });
}

}  // namespace cascade::cli
