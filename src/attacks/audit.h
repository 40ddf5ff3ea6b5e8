// Privacy audit: run every attack against every party's view and report
// what fraction of the prompt each party learns.
//
// Input is planner-independent: per party, the positions whose layer-ℓ rows
// it receives (a Cascade plan gives the same positions at every layer; a
// coalition is the union of its members' views, coalition.h), plus the
// positions whose tokens the attacker knows anyway (BOS, a public system
// prompt). Positions at or past a prompt's length are ignored for that prompt.
//
// Per party and attack, over all prompts:
//   private_recovered / private_positions   — the fraction of the prompt's
//       private tokens (every position not known to the attacker) the party
//       recovers; the headline number. Vocab matching on a sharded view also
//       recovers the tokens in the gaps it fills, so this can exceed the
//       party's share of positions.
//   observed_recovered / observed_private   — the fraction of the private
//       positions the party SEES whose token it recovers.
//
// Attacks: "vocab_match" (gap_attack.h on the view; with a full view this is
// plain vocab matching), "context_free_after_bos", "context_free_filler"
// (context_free.h), "ridge_inverter" (ridge_inverter.h; the audit prompts are
// its test set, trained on separate model-generated text).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "attacks/vocab_match.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace cascade::attacks {

struct AuditConfig {
  int layer = 1;
  std::vector<std::vector<int>> party_positions;  // per party: positions it sees
  std::vector<std::string> party_names;           // optional, same length
  std::vector<int> known_positions = {0};         // tokens the attacker knows (BOS)

  bool run_vocab_match = true;
  bool run_context_free = true;
  bool run_ridge = true;

  // ε for vocab matching; <= 0: calibrated on calibration_prompts. Both
  // prompt sets are calibration_prompts() (prompt_sets.h) in the audit.
  float epsilon = 0;
  std::vector<std::vector<int32_t>> calibration_prompts;
  // Budget of candidate rows per seen position for vocab matching (gap search).
  int64_t vocab_match_budget = 1 << 16;
  // Ridge training corpus (needed when run_ridge).
  std::vector<std::vector<int32_t>> inverter_training_prompts;
  double ridge_lambda_rel = 1e-3;
};

struct AttackScore {
  std::string attack;
  int64_t private_positions = 0;
  int64_t private_recovered = 0;
  int64_t observed_private = 0;
  int64_t observed_recovered = 0;
  int64_t candidates_tried = 0;  // vocab_match only: total search cost
  double fraction_of_prompt() const {
    return private_positions ? (double)private_recovered / private_positions : 0.0;
  }
  double fraction_of_observed() const {
    return observed_private ? (double)observed_recovered / observed_private : 0.0;
  }
};

struct PartyAudit {
  std::string name;
  std::vector<int> positions;
  std::vector<AttackScore> attacks;
  std::string example_truth, example_recovered;  // first prompt, vocab_match; "_" marks unknown
};

struct AuditReport {
  std::string model_sha256;
  int layer = 0;
  int n_prompts = 0;
  std::vector<int> known_positions;
  EpsilonCalibration calibration;  // n_prompts == 0 when ε was given
  float epsilon = 0;
  double ridge_train_accuracy = 0;
  int ridge_train_rows = 0;
  std::vector<PartyAudit> parties;
};

// stage: "calibrate", "train", "prompt"; done of total.
using AuditProgress = std::function<void(const std::string& stage, int done, int total)>;

// tok may be null (no example text in the report). Throws Error on bad input.
AuditReport run_audit(const Model& m, const Tokenizer* tok,
                      const std::vector<std::vector<int32_t>>& prompts, const AuditConfig& cfg,
                      const AuditProgress& progress = {});

nlohmann::json to_json(const AuditReport& r);

}  // namespace cascade::attacks
