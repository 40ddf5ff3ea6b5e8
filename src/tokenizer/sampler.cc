#include "tokenizer/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "util/error.h"

namespace cascade {
namespace {

int argmax_first(const float* logits, int n) {
  int best = 0;
  float best_value = logits[0];
  for (int i = 1; i < n; ++i) {
    // A NaN never compares greater, so also let a number replace a leading NaN.
    if (logits[i] > best_value || (std::isnan(best_value) && !std::isnan(logits[i]))) {
      best = i;
      best_value = logits[i];
    }
  }
  return best;
}

// Most likely first; equal probabilities by lower index, so results do not
// depend on the sort algorithm.
bool more_likely(const std::pair<double, int>& a, const std::pair<double, int>& b) {
  return a.first > b.first || (a.first == b.first && a.second < b.second);
}

}  // namespace

Sampler::Sampler(const SamplerConfig& config) : config_(config), rng_state_(config.seed) {
  check(std::isfinite(config.temperature) && config.temperature >= 0.0f,
        "sampler: temperature must be a finite number >= 0 (0 = greedy), got " +
            std::to_string(config.temperature));
  check(config.top_k >= 0, "sampler: top_k must be >= 0 (0 = off), got " + std::to_string(config.top_k));
  check(std::isfinite(config.top_p) && config.top_p > 0.0f && config.top_p <= 1.0f,
        "sampler: top_p must be in (0, 1] (1 = off), got " + std::to_string(config.top_p));
}

double Sampler::next_uniform() {
  // splitmix64 (Steele, Lea, Flood 2014): one add and a mixing function, fine
  // statistical quality, and every seed (0 included) is usable.
  rng_state_ += 0x9E3779B97F4A7C15ull;
  uint64_t z = rng_state_;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1.0p-53;
}

int Sampler::sample(const float* logits, int n) {
  check(logits != nullptr && n > 0, "sampler: need at least one logit, got n=" + std::to_string(n));
  if (config_.temperature == 0.0f) return argmax_first(logits, n);
  return sample_softmax(logits, n);
}

int Sampler::sample_softmax(const float* logits, int n) {
  const int best = argmax_first(logits, n);
  const double max_logit = logits[best];
  if (!std::isfinite(max_logit)) return best;  // +inf takes everything; all -inf/NaN: first index

  // Unnormalised probabilities exp((l - max) / T), NaN logits dropped.
  const double inv_t = 1.0 / config_.temperature;
  candidates_.clear();
  candidates_.reserve(n);
  double total = 0.0;
  for (int i = 0; i < n; ++i) {
    if (std::isnan(logits[i])) continue;
    const double p = std::exp((static_cast<double>(logits[i]) - max_logit) * inv_t);
    if (p > 0.0) {
      candidates_.emplace_back(p, i);
      total += p;
    }
  }

  size_t keep = candidates_.size();
  if (config_.top_k > 0 && static_cast<size_t>(config_.top_k) < keep) {
    keep = config_.top_k;
    std::partial_sort(candidates_.begin(), candidates_.begin() + keep, candidates_.end(), more_likely);
    candidates_.resize(keep);
    total = 0.0;
    for (const auto& c : candidates_) total += c.first;
  }
  if (config_.top_p < 1.0f) {
    // As llama2.c does: a token below (1 - top_p) / (n - 1) of the mass can
    // never be in the nucleus (at most n - 1 such tokens hold less than
    // 1 - top_p together), so drop them before sorting; a big vocab shrinks a
    // lot. Capping at the top probability (1 after subtracting the max logit)
    // keeps at least one token, which the argument needs.
    if (candidates_.size() > 1) {
      const double cutoff = std::min(
          1.0, (1.0 - config_.top_p) / static_cast<double>(candidates_.size() - 1) * total);
      std::erase_if(candidates_, [&](const auto& c) { return c.first < cutoff; });
    }
    std::sort(candidates_.begin(), candidates_.end(), more_likely);
    const double threshold = static_cast<double>(config_.top_p) * total;
    double cumulative = 0.0;
    size_t nucleus = 0;
    while (nucleus < candidates_.size()) {
      cumulative += candidates_[nucleus++].first;
      if (cumulative >= threshold) break;
    }
    candidates_.resize(nucleus);
    total = cumulative;
  }

  const double r = next_uniform() * total;
  double cdf = 0.0;
  for (const auto& [p, id] : candidates_) {
    cdf += p;
    if (r < cdf) return id;
  }
  return candidates_.back().second;  // rounding left r just above the sum
}

}  // namespace cascade
