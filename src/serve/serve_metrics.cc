#include "serve/serve_metrics.h"

#include <sstream>

namespace cascade {

void ServeMetrics::Histogram::observe(double v) {
  if (counts.empty()) counts.assign(bounds.size() + 1, 0);
  size_t i = 0;
  while (i < bounds.size() && v > bounds[i]) ++i;
  ++counts[i];
  sum += v;
  ++n;
}

void ServeMetrics::Histogram::write(std::string& out, const std::string& name, const std::string& help) const {
  std::ostringstream s;
  s << "# HELP " << name << " " << help << "\n# TYPE " << name << " histogram\n";
  long cum = 0;
  for (size_t i = 0; i < bounds.size(); ++i) {
    cum += counts.empty() ? 0 : counts[i];
    s << name << "_bucket{le=\"" << bounds[i] << "\"} " << cum << "\n";
  }
  s << name << "_bucket{le=\"+Inf\"} " << n << "\n" << name << "_sum " << sum << "\n" << name << "_count " << n << "\n";
  out += s.str();
}

void ServeMetrics::choice(int prompt_tokens, int completion_tokens, double ttft_s, double total_s) {
  MutexLock l(mu_);
  prompt_tokens_ += prompt_tokens;
  completion_tokens_ += completion_tokens;
  recent_.push_back({std::chrono::steady_clock::now(), completion_tokens});
  if (completion_tokens > 0) ttft_.observe(ttft_s);
  if (completion_tokens > 1) tpot_.observe((total_s - ttft_s) / (completion_tokens - 1));
}

double ServeMetrics::tokens_per_second() const {
  const auto cutoff = std::chrono::steady_clock::now() - std::chrono::seconds(60);
  while (!recent_.empty() && recent_.front().first < cutoff) recent_.pop_front();
  long n = 0;
  for (const auto& r : recent_) n += r.second;
  return n / 60.0;
}

std::string ServeMetrics::prometheus(int running, int waiting) const {
  MutexLock l(mu_);
  std::ostringstream s;
  auto one = [&](const char* name, const char* type, const char* help, auto v) {
    s << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n" << name << " " << v << "\n";
  };
  one("cascade_requests_total", "counter", "API requests received", requests_);
  one("cascade_requests_failed_total", "counter", "API requests answered with an error", failed_);
  one("cascade_prompt_tokens_total", "counter", "prompt tokens processed", prompt_tokens_);
  one("cascade_completion_tokens_total", "counter", "tokens generated", completion_tokens_);
  one("cascade_requests_running", "gauge", "requests generating now", running);
  one("cascade_requests_waiting", "gauge", "requests queued for a slot", waiting);
  one("cascade_tokens_per_second", "gauge", "tokens generated in the last 60 s, per second", tokens_per_second());
  std::string out = s.str();
  ttft_.write(out, "cascade_time_to_first_token_seconds", "from a choice's start to its first token");
  tpot_.write(out, "cascade_time_per_output_token_seconds", "mean seconds per token after the first, per choice");
  return out;
}

}  // namespace cascade
