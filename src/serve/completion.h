// complete — one choice of an API request: the token loop of client/generate
// with what the OpenAI API adds (stop strings, penalties, logit bias,
// logprobs, the context limit, cancellation).
//
// With no penalty, bias or stop string it picks the same ids as generate()
// (the same Sampler on the same logits), so the API's text equals
// `cascade generate`'s.
//
// Per step, before sampling: logit_bias is added; presence and frequency
// penalties (OpenAI's: logit -= presence·[count>0] + frequency·count, over the
// tokens generated so far) and llama.cpp's repeat_penalty (over the last
// `repeat_last_n` prompt and generated tokens: a positive logit is divided by
// it, a negative one multiplied) are applied. Logprobs are the log-softmax of
// those adjusted logits, before temperature, top_k and top_p.
//
// Stops: EOS (and BOS, as generate() does) or an id in stop_ids ends with
// "stop"; so does a stop string, whose text and everything after it is cut.
// max_tokens or the model's context ends with "length", keeping the text.
// Text reaches on_text in whole UTF-8 characters, never a piece that could
// begin a stop string (held back until it cannot); invalid bytes pass
// through (the JSON writer replaces them).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "tokenizer/sampler.h"
#include "tokenizer/tokenizer.h"

namespace cascade {

struct CompletionParams {
  int max_tokens = 16;
  SamplerConfig sampling;
  std::vector<std::string> stop;  // stop strings
  std::vector<int> stop_ids;      // besides EOS/BOS (a chat template's end of turn)
  float presence_penalty = 0, frequency_penalty = 0;
  float repeat_penalty = 1;  // 1 = off
  int repeat_last_n = 64;
  std::map<int, float> logit_bias;
  int logprobs = -1;  // -1: none; else alternatives per token (0..20)
  bool prompt_logprobs = false;  // also the prompt tokens' logprobs (echo): the prefill returns every row
  int context_length = 0;  // the model's; 0 = unlimited
};

struct TokenLogprob {
  int id = 0;
  std::string text;  // the token's bytes (after the previous token)
  float logprob = 0;
  std::vector<TokenLogprob> top;  // the most likely alternatives, most likely first (their top is empty)
};

struct CompletionOutput {
  std::vector<int> ids;
  std::string text;
  std::string finish_reason;  // "stop", "length", or "cancelled"
  std::vector<TokenLogprob> logprobs;  // one per id, when asked
  // Prompt tokens 1.. (the first has no prediction), when prompt_logprobs;
  // from the raw logits (no bias or penalty).
  std::vector<TokenLogprob> prompt_logprobs;
  double first_token_seconds = 0;  // from the start of the call
  double seconds = 0;
};

// Text and the logprobs of the tokens produced since the last call. Return
// false to cancel (the client went away): the loop stops, finish "cancelled".
using CompletionSink = std::function<bool(const std::string& text, const std::vector<TokenLogprob>& lp)>;

// Runs one choice of `prompt_ids` (non-empty, shorter than the context) on a
// fresh `backend`. Throws Error on a backend failure.
CompletionOutput complete(Backend& backend, const Tokenizer& tok, const std::vector<int>& prompt_ids,
                          const CompletionParams& p, const CompletionSink& sink = nullptr);

// The longest suffix of `text` that is a proper prefix of one of `stops`.
size_t stop_prefix_tail(const std::string& text, const std::vector<std::string>& stops);

}  // namespace cascade
