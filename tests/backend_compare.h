// Comparing a Cascade backend with the plaintext engine — the exactness bar
// every distributed path is held to: logits at every prompt position within
// 1e-4, then greedy decode steps with identical tokens and logits within 1e-4.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "tests/test_util.h"

namespace cascade::testing {

// BOS, then tokens drawn from [3, vocab) by a seeded generator.
std::vector<int32_t> random_prompt(int n, int vocab, uint32_t seed);

// Runs `prompt` (all rows) and `gen` greedy steps on a fresh plaintext engine
// and on `other`, asserting the bar above (gtest failures; returns early on
// the first one).
void expect_matches_plain(const Model& m, Backend& other, const std::vector<int32_t>& prompt, int gen);

// The real stories260K checkpoint under ../shared (loaded once, without its
// tokenizer), which the node-process tests serve.
const std::string& stories260k_path();
const Model& stories260k();

}  // namespace cascade::testing
