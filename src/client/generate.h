// generate — the token loop: encode, prefill, sample, decode, stream.
//
// Runs on any Backend, so plaintext, in-process Cascade and remote Cascade
// generate through this same loop; sampling and the text stay here, at the
// client.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "tokenizer/sampler.h"
#include "tokenizer/tokenizer.h"

namespace cascade {

struct GenerateOptions {
  int max_new_tokens = 64;
  SamplerConfig sampling;
  bool stop_at_eos = true;  // stop at EOS, and at BOS as llama2.c does
};

struct GenerateResult {
  std::vector<int> prompt_ids;
  std::vector<int> new_ids;
  std::string text;         // decoded new tokens
  double prefill_seconds = 0;
  double decode_seconds = 0;  // all decode steps together
};

// Streams decoded text through on_text (whole UTF-8 characters only).
GenerateResult generate(Backend& backend, const Tokenizer& tok, const std::string& prompt,
                        const GenerateOptions& opts,
                        const std::function<void(const std::string&)>& on_text = nullptr);

}  // namespace cascade
