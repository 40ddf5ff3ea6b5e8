// Prompt sets for the attacks: text the model itself generates (so it is
// in-distribution for every model, with no data set to ship), plus a few
// handwritten prompts.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace cascade::attacks {

struct PromptSetOptions {
  int count = 100;
  int min_len = 16;          // tokens, BOS included
  int max_len = 32;
  float temperature = 1.0f;  // softmax(logits / T)
  uint64_t seed = 1;
  int32_t bos = 1;
  int32_t eos = 2;           // never sampled (prompts get their full length); −1: none
};

// `count` sequences: BOS, then tokens sampled from the model. Lengths are
// uniform in [min_len, max_len]. Deterministic for a seed (own splitmix64
// RNG and 53-bit uniforms, so the same on every platform).
std::vector<std::vector<int32_t>> generate_prompts(const Model& m, const PromptSetOptions& opts);

// What the attacks are calibrated on, apart from the prompts they are
// evaluated on: the one calibration `cascade audit` and attack_bench share.
struct CalibrationPrompts {
  // Held-out prompts that set vocab matching's ε (calibrate_epsilon).
  std::vector<std::vector<int32_t>> held_out;
  // The ridge inverter's training corpus.
  std::vector<std::vector<int32_t>> inverter_training;
};
// For an evaluation set generated with `eval`: `held_out` prompts from seed
// eval.seed + 1000 and 200 training prompts from seed 7777, both of eval's
// lengths and tokens.
CalibrationPrompts calibration_prompts(const Model& m, const PromptSetOptions& eval, int held_out = 10);

// Prompts with a planted secret: model text, then "The secret code of
// <Name> is <six random digits>.", then more model text. The name comes
// from a fixed list of names a children's-story model rarely writes, the
// digits uniformly at random, so no prior predicts them: recovering them
// measures leakage the prior cannot explain. `canary` lists the positions
// of the tokens that spell the name and the digits.
struct CanaryPrompt {
  std::vector<int32_t> tokens;  // BOS first
  std::vector<int> canary;      // ascending positions
  std::string secret;           // "<Name> <digits>"
};
// Deterministic for a seed. Throws Error when the tokenizer does not give
// the planted text back on decoding.
std::vector<CanaryPrompt> canary_prompts(const Model& m, const Tokenizer& tok, int count, uint64_t seed);

// A few TinyStories-style sentences.
const std::vector<std::string>& handwritten_prompt_texts();

// handwritten_prompt_texts() encoded with BOS.
std::vector<std::vector<int32_t>> handwritten_prompts(const Tokenizer& tok);

}  // namespace cascade::attacks
