// ServeMetrics — the server's counters, the last minute's token rate and
// latency histograms, written in Prometheus text format (0.0.4).
//
//   cascade_requests_total, cascade_requests_failed_total      counters
//   cascade_prompt_tokens_total, cascade_completion_tokens_total
//   cascade_requests_running, cascade_requests_waiting          gauges
//   cascade_tokens_per_second      completion tokens of the last 60 s / 60
//   cascade_time_to_first_token_seconds, cascade_time_per_output_token_seconds   histograms
// Thread-safe.
#pragma once

#include <chrono>
#include <deque>
#include <string>
#include <vector>

#include "util/mutex.h"

namespace cascade {

class ServeMetrics {
 public:
  void request() {
    MutexLock l(mu_);
    ++requests_;
  }
  void failed() {
    MutexLock l(mu_);
    ++failed_;
  }
  // One finished choice: its tokens, time to first token and seconds per
  // output token after the first (skipped when it made fewer than 2).
  void choice(int prompt_tokens, int completion_tokens, double ttft_s, double total_s);

  std::string prometheus(int running, int waiting) const;

 private:
  struct Histogram {
    std::vector<double> bounds;
    std::vector<long> counts;  // per bound, not cumulative; last = +Inf
    double sum = 0;
    long n = 0;
    void observe(double v);
    void write(std::string& out, const std::string& name, const std::string& help) const;
  };
  double tokens_per_second() const REQUIRES(mu_);

  mutable Mutex mu_;
  long requests_ GUARDED_BY(mu_) = 0, failed_ GUARDED_BY(mu_) = 0;
  long prompt_tokens_ GUARDED_BY(mu_) = 0, completion_tokens_ GUARDED_BY(mu_) = 0;
  // (when, tokens)
  mutable std::deque<std::pair<std::chrono::steady_clock::time_point, int>> recent_ GUARDED_BY(mu_);
  Histogram ttft_ GUARDED_BY(mu_){{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}, {}, 0, 0};
  Histogram tpot_ GUARDED_BY(mu_){{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}, {}, 0, 0};
};

}  // namespace cascade
