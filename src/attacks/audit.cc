#include "attacks/audit.h"

#include <algorithm>
#include <memory>
#include <set>

#include "attacks/context_free.h"
#include "attacks/gap_attack.h"
#include "attacks/hidden_states.h"
#include "attacks/prompt_sets.h"
#include "attacks/ridge_inverter.h"
#include "util/error.h"

namespace cascade::attacks {

namespace {

// Scores one attack's recovered tokens for one prompt.
void score(AttackScore& s, const std::vector<int32_t>& truth, const std::vector<int32_t>& recovered,
           const std::set<int>& known, const std::vector<int>& seen) {
  const int N = (int)truth.size();
  for (int i = 0; i < N; ++i) {
    if (known.count(i)) continue;
    ++s.private_positions;
    s.private_recovered += recovered[i] == truth[i];
  }
  for (int i : seen) {
    if (known.count(i)) continue;
    ++s.observed_private;
    s.observed_recovered += recovered[i] == truth[i];
  }
}

std::string render(const Tokenizer* tok, const std::vector<int32_t>& ids) {
  if (!tok) return {};
  std::string out;
  int prev = -1;
  for (int32_t id : ids) {
    out += id < 0 ? std::string("_") : tok->decode(prev, id);
    prev = id;
  }
  return out;
}

}  // namespace

AuditReport run_audit(const Model& m, const Tokenizer* tok,
                      const std::vector<std::vector<int32_t>>& prompts, const AuditConfig& cfg,
                      const AuditProgress& progress) {
  check(cfg.layer >= 0 && cfg.layer <= m.cfg.n_layers, "audit: layer out of range");
  check(!prompts.empty(), "audit: no prompts");
  check(cfg.party_names.empty() || cfg.party_names.size() == cfg.party_positions.size(),
        "audit: party_names and party_positions differ in length");
  const int n_parties = (int)cfg.party_positions.size();
  const int32_t bos = tok && tok->bos() >= 0 ? tok->bos() : 1;
  const std::set<int> known(cfg.known_positions.begin(), cfg.known_positions.end());

  AuditReport rep;
  rep.model_sha256 = m.file_sha256;
  rep.layer = cfg.layer;
  rep.n_prompts = (int)prompts.size();
  rep.known_positions.assign(known.begin(), known.end());

  rep.epsilon = cfg.epsilon;
  if (cfg.run_vocab_match && cfg.epsilon <= 0) {
    check(!cfg.calibration_prompts.empty(), "audit: give epsilon or calibration prompts");
    if (progress) progress("calibrate", 0, 1);
    rep.calibration = calibrate_epsilon(m, cfg.calibration_prompts, cfg.layer, Disguise::kPlain);
    rep.epsilon = rep.calibration.epsilon;
    if (progress) progress("calibrate", 1, 1);
  }

  std::unique_ptr<RidgeInverter> ridge;
  if (cfg.run_ridge) {
    if (progress) progress("train", 0, 1);
    check(!cfg.inverter_training_prompts.empty(), "audit: give the ridge inverter's training prompts");
    RowDataset train = collect_rows(m, cfg.inverter_training_prompts, cfg.layer);
    ridge = std::make_unique<RidgeInverter>(RidgeInverter::train(train, m.cfg.vocab_size, cfg.ridge_lambda_rel));
    rep.ridge_train_accuracy = ridge->accuracy(train);
    rep.ridge_train_rows = train.size();
    if (progress) progress("train", 1, 1);
  }
  ContextFreeMatcher cf_bos(m, {cfg.layer, ContextGuess::kAfterBos, bos, -1, false});
  ContextFreeMatcher cf_fill(m, {cfg.layer, ContextGuess::kFillerPrefix, bos, -1, false});

  rep.parties.resize(n_parties);
  for (int p = 0; p < n_parties; ++p) {
    auto& pa = rep.parties[p];
    pa.name = cfg.party_names.empty() ? "party " + std::to_string(p) : cfg.party_names[p];
    pa.positions = cfg.party_positions[p];
    std::sort(pa.positions.begin(), pa.positions.end());
    pa.positions.erase(std::unique(pa.positions.begin(), pa.positions.end()), pa.positions.end());
    if (cfg.run_vocab_match) pa.attacks.push_back({"vocab_match"});
    if (cfg.run_context_free) {
      pa.attacks.push_back({"context_free_after_bos"});
      pa.attacks.push_back({"context_free_filler"});
    }
    if (cfg.run_ridge) pa.attacks.push_back({"ridge_inverter"});
  }

  GapAttackOptions go;
  go.layer = cfg.layer;
  go.epsilon = rep.epsilon;
  go.budget = cfg.vocab_match_budget;
  for (size_t pi = 0; pi < prompts.size(); ++pi) {
    if (progress) progress("prompt", (int)pi, (int)prompts.size());
    const auto& truth = prompts[pi];
    const int N = (int)truth.size();
    HiddenStates hs = capture_hidden_states(m, truth);
    std::vector<std::pair<int, int32_t>> known_tok;
    for (int k : known)
      if (k < N) known_tok.emplace_back(k, truth[k]);
    for (auto& pa : rep.parties) {
      std::vector<int> seen;
      for (int i : pa.positions)
        if (i < N) seen.push_back(i);
      size_t a = 0;
      if (cfg.run_vocab_match) {
        std::vector<float> rows = hs.gather(cfg.layer, seen);
        GapAttackResult g = gap_attack(m, seen, rows.data(), known_tok, N, go);
        score(pa.attacks[a], truth, g.recovered, known, seen);
        pa.attacks[a].candidates_tried += g.total_candidates_tried();
        if (pi == 0) {
          pa.example_truth = render(tok, truth);
          pa.example_recovered = render(tok, g.recovered);
        }
        ++a;
      }
      // The single-row attacks label only the rows the party sees.
      auto single_row = [&](auto&& label) {
        std::vector<int32_t> rec(N, -1);
        for (auto [k, t] : known_tok) rec[k] = t;
        for (int i : seen)
          if (!known.count(i)) rec[i] = label(hs.row(cfg.layer, i), i);
        score(pa.attacks[a++], truth, rec, known, seen);
      };
      if (cfg.run_context_free) {
        single_row([&](const float* r, int i) { return cf_bos.recover(r, i); });
        single_row([&](const float* r, int i) { return cf_fill.recover(r, i); });
      }
      if (cfg.run_ridge) single_row([&](const float* r, int) { return ridge->predict(r); });
    }
  }
  if (progress) progress("prompt", (int)prompts.size(), (int)prompts.size());
  return rep;
}

nlohmann::json to_json(const AuditReport& r) {
  using nlohmann::json;
  json j;
  j["model_sha256"] = r.model_sha256;
  j["layer"] = r.layer;
  j["n_prompts"] = r.n_prompts;
  j["known_positions"] = r.known_positions;
  j["epsilon"] = r.epsilon;
  if (r.calibration.n_prompts > 0)
    j["epsilon_calibration"] = {{"max_true_distance", r.calibration.max_true},
                                {"min_wrong_distance", r.calibration.min_wrong},
                                {"separable", r.calibration.separable},
                                {"heldout_prompts", r.calibration.n_prompts}};
  if (r.ridge_train_rows > 0)
    j["ridge"] = {{"train_rows", r.ridge_train_rows}, {"train_accuracy", r.ridge_train_accuracy}};
  j["parties"] = json::array();
  for (const auto& p : r.parties) {
    json pj{{"name", p.name}, {"positions", p.positions}};
    if (!p.example_truth.empty())
      pj["example"] = {{"truth", p.example_truth}, {"recovered", p.example_recovered}};
    pj["attacks"] = json::array();
    for (const auto& a : p.attacks) {
      json aj{{"attack", a.attack},
              {"private_positions", a.private_positions},
              {"private_recovered", a.private_recovered},
              {"fraction_of_prompt", a.fraction_of_prompt()},
              {"observed_private", a.observed_private},
              {"observed_recovered", a.observed_recovered},
              {"fraction_of_observed", a.fraction_of_observed()}};
      if (a.attack == "vocab_match") aj["candidates_tried"] = a.candidates_tried;
      pj["attacks"].push_back(aj);
    }
    j["parties"].push_back(pj);
  }
  return j;
}

}  // namespace cascade::attacks
