#include "serve/completion.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <unordered_map>
#include <unordered_set>

#include "tokenizer/stream_decoder.h"
#include "util/error.h"

namespace cascade {

namespace {

// Applies bias and penalties to `logits` in place.
void adjust(std::vector<float>& logits, const CompletionParams& p, const std::unordered_map<int, int>& counts,
            const std::vector<int>& history) {
  const int V = (int)logits.size();
  for (const auto& [id, b] : p.logit_bias)
    if (id < V) logits[id] += b;
  if (p.presence_penalty != 0 || p.frequency_penalty != 0)
    for (const auto& [id, n] : counts) logits[id] -= p.presence_penalty + p.frequency_penalty * (float)n;
  if (p.repeat_penalty != 1 && p.repeat_last_n > 0) {
    std::unordered_set<int> seen;
    const size_t from = history.size() > (size_t)p.repeat_last_n ? history.size() - p.repeat_last_n : 0;
    for (size_t i = from; i < history.size(); ++i)
      if (seen.insert(history[i]).second) {
        float& l = logits[history[i]];
        l = l > 0 ? l / p.repeat_penalty : l * p.repeat_penalty;
      }
  }
}

TokenLogprob logprob_of(const Tokenizer& tok, int prev, const std::vector<float>& logits, int id, int top_n) {
  const int V = (int)logits.size();
  float mx = -INFINITY;
  for (float l : logits)
    if (l > mx) mx = l;
  double sum = 0;
  for (float l : logits) sum += std::exp((double)l - mx);
  const double lse = mx + std::log(sum);
  TokenLogprob t;
  t.id = id;
  t.text = tok.decode(prev, id);
  t.logprob = (float)(logits[id] - lse);
  if (top_n > 0) {
    std::vector<int> idx(V);
    std::iota(idx.begin(), idx.end(), 0);
    const int n = std::min(top_n, V);
    std::partial_sort(idx.begin(), idx.begin() + n, idx.end(),
                      [&](int a, int b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
    for (int i = 0; i < n; ++i) t.top.push_back({idx[i], tok.decode(prev, idx[i]), (float)(logits[idx[i]] - lse), {}});
  }
  return t;
}

}  // namespace

size_t stop_prefix_tail(const std::string& text, const std::vector<std::string>& stops) {
  size_t best = 0;
  for (const std::string& s : stops)
    for (size_t k = std::min(s.size() - 1, text.size()); k > best; --k)
      if (text.compare(text.size() - k, k, s, 0, k) == 0) {
        best = k;
        break;
      }
  return best;
}

CompletionOutput complete(Backend& backend, const Tokenizer& tok, const std::vector<int>& prompt_ids,
                          const CompletionParams& p, const CompletionSink& sink) {
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  check(!prompt_ids.empty(), "the prompt encodes to no tokens; give some text");
  check(p.context_length <= 0 || (int)prompt_ids.size() <= p.context_length,
        "the prompt is longer than the model's context");
  CompletionOutput out;
  Sampler sampler(p.sampling);
  StreamDecoder dec(tok, prompt_ids.back());
  std::vector<int32_t> ids(prompt_ids.begin(), prompt_ids.end());
  std::vector<int> history(prompt_ids.begin(), prompt_ids.end());
  std::unordered_map<int, int> counts;
  std::vector<float> logits;
  const bool adjusting = !p.logit_bias.empty() || p.presence_penalty != 0 || p.frequency_penalty != 0 ||
                         p.repeat_penalty != 1;

  std::string pending;                 // decoded text not yet given out (a possible stop's start)
  std::vector<TokenLogprob> lp_queue;  // logprobs not yet given out
  bool cancelled = false, stopped_by_string = false;
  auto give = [&](const std::string& text) {
    out.text += text;
    if (!sink) return;
    std::vector<TokenLogprob> lp;
    if (!text.empty()) lp.swap(lp_queue);
    if (!sink(text, lp)) cancelled = true;
  };
  // Moves pending text out, up to a stop string (true when one was found) or
  // up to what could still begin one.
  auto release = [&](bool final) {
    size_t at = std::string::npos;
    for (const std::string& s : p.stop) at = std::min(at, pending.find(s));
    if (at != std::string::npos) {
      give(pending.substr(0, at));
      pending.clear();
      return true;
    }
    const size_t keep = final ? 0 : stop_prefix_tail(pending, p.stop);
    give(pending.substr(0, pending.size() - keep));
    pending.erase(0, pending.size() - keep);
    return false;
  };

  if (p.prompt_logprobs) {
    std::vector<float> all, row;
    backend.step(ids.data(), (int)ids.size(), true, all);
    const size_t V = all.size() / ids.size();
    for (size_t i = 1; i < ids.size(); ++i) {
      row.assign(all.begin() + (i - 1) * V, all.begin() + i * V);
      out.prompt_logprobs.push_back(logprob_of(tok, prompt_ids[i - 1], row, prompt_ids[i], std::max(0, p.logprobs)));
    }
    logits.assign(all.end() - V, all.end());
  } else {
    backend.step(ids.data(), (int)ids.size(), false, logits);
  }
  out.finish_reason = "length";
  for (int i = 0; i < p.max_tokens; ++i) {
    if (adjusting) adjust(logits, p, counts, history);
    const int next = sampler.sample(logits.data(), (int)logits.size());
    if (i == 0) out.first_token_seconds = std::chrono::duration<double>(clock::now() - t0).count();
    if (next == tok.eos() || next == tok.bos() ||
        std::find(p.stop_ids.begin(), p.stop_ids.end(), next) != p.stop_ids.end()) {
      out.finish_reason = "stop";
      break;
    }
    if (p.logprobs >= 0) {
      TokenLogprob t = logprob_of(tok, out.ids.empty() ? prompt_ids.back() : out.ids.back(), logits, next, p.logprobs);
      out.logprobs.push_back(t);
      lp_queue.push_back(std::move(t));
    }
    out.ids.push_back(next);
    history.push_back(next);
    ++counts[next];
    pending += dec.push(next);
    if (release(false)) {
      stopped_by_string = true;
      out.finish_reason = "stop";
      break;
    }
    if (cancelled) {
      out.finish_reason = "cancelled";
      break;
    }
    if (i + 1 == p.max_tokens) break;  // no need to feed the last token
    if (p.context_length > 0 && backend.position() >= p.context_length) break;  // "length"
    int32_t t = next;
    backend.step(&t, 1, false, logits);
  }
  if (!stopped_by_string) {
    pending += dec.flush();
    if (release(true)) out.finish_reason = "stop";
  }
  if (sink && !lp_queue.empty() && !cancelled) sink("", lp_queue);
  out.seconds = std::chrono::duration<double>(clock::now() - t0).count();
  return out;
}

}  // namespace cascade
