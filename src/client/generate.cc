#include "client/generate.h"

#include <chrono>

#include "tokenizer/stream_decoder.h"
#include "util/error.h"

namespace cascade {

GenerateResult generate(Backend& backend, const Tokenizer& tok, const std::string& prompt,
                        const GenerateOptions& opts,
                        const std::function<void(const std::string&)>& on_text) {
  using clock = std::chrono::steady_clock;
  GenerateResult r;
  r.prompt_ids = tok.encode(prompt, true);
  check(!r.prompt_ids.empty(), "the prompt encodes to no tokens and the vocabulary has no BOS; give some text");
  Sampler sampler(opts.sampling);
  StreamDecoder dec(tok, r.prompt_ids.back());
  std::vector<int32_t> ids(r.prompt_ids.begin(), r.prompt_ids.end());
  std::vector<float> logits;

  auto t0 = clock::now();
  backend.step(ids.data(), (int)ids.size(), false, logits);
  r.prefill_seconds = std::chrono::duration<double>(clock::now() - t0).count();

  auto t1 = clock::now();
  for (int i = 0; i < opts.max_new_tokens; ++i) {
    const int next = sampler.sample(logits.data(), (int)logits.size());
    if (opts.stop_at_eos && (next == tok.eos() || next == tok.bos())) break;
    r.new_ids.push_back(next);
    std::string piece = dec.push(next);
    r.text += piece;
    if (on_text && !piece.empty()) on_text(piece);
    if (i + 1 == opts.max_new_tokens) break;  // no need to feed the last token
    int32_t t = next;
    backend.step(&t, 1, false, logits);
  }
  r.decode_seconds = std::chrono::duration<double>(clock::now() - t1).count();
  std::string tail = dec.flush();
  r.text += tail;
  if (on_text && !tail.empty()) on_text(tail);
  return r;
}

}  // namespace cascade
