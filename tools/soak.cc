// cascade_soak — generation under chaos: does every generation survive?
//
// An embedded cluster of node processes on loopback (a 2x2 plan: 2 CompNodes
// + 4 AttnNodes) plus spares, and `sessions` client threads that generate
// greedily, one generation after another, each through a FailoverBackend on
// one shared SparePool. Every `kill-min`..`kill-max` seconds a random node of
// the current placement is SIGKILLed or SIGSTOPped (a stopped one is killed
// at the next event); new spares are started whenever the pool holds fewer
// than --spares of a role, so it does not run dry. Checked:
//   - every generation finishes within --gen-deadline, with logits within
//     1e-4 of the plaintext engine's at every step and identical tokens;
//   - the RSS and open file descriptors of the nodes that live through the
//     whole run are flat after warm-up (sampled from /proc/PID/status, fd).
// Prints a summary, writes it as JSON (--json), exits 0 only if all hold.
//
//   cascade_soak --node-bin build/cascade --model stories260K.bin [--seconds 600]
//       [--sessions 16] [--spares 2] [--kill-min 20] [--kill-max 40] [--tokens 32]
//       [--gen-deadline 120] [--warmup 60] [--rpc-deadline-ms 10000] [--seed 1] [--json soak.json]
//       [--flat-check 0|1]   (0: report RSS/fds, judge only exactness and hangs; for runs too
//                             short to tell a plateau, like ctest's soak_short)
// --rpc-deadline-ms is the health probe's (and every RPC's) deadline: a node
// that does not answer within it counts as hung. On an overloaded host a
// short one takes slow nodes for hung ones (they are replaced, exactly, but
// spares go faster).
#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "engine/backend.h"
#include "kernels/kernels.h"
#include "model/loader.h"
#include "rpc/failover_backend.h"
#include "rpc/local_process_cluster.h"
#include "util/atomic_file.h"
#include "util/error.h"

namespace cascade {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

struct Args {
  std::string node_bin, model, json_path;
  double seconds = 600, kill_min = 20, kill_max = 40, gen_deadline = 120, warmup = 60, rpc_deadline_ms = 10000;
  int sessions = 16, spares = 2, tokens = 32;
  bool flat_check = true;  // RSS/fd flatness decides the verdict (else only reported)
  uint32_t seed = 1;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    check(i + 1 < argc, "cascade_soak: " + k + " needs a value (see the usage at the top of tools/soak.cc)");
    const std::string v = argv[++i];
    if (k == "--node-bin") a.node_bin = v;
    else if (k == "--model") a.model = v;
    else if (k == "--json") a.json_path = v;
    else if (k == "--seconds") a.seconds = std::stod(v);
    else if (k == "--kill-min") a.kill_min = std::stod(v);
    else if (k == "--kill-max") a.kill_max = std::stod(v);
    else if (k == "--gen-deadline") a.gen_deadline = std::stod(v);
    else if (k == "--warmup") a.warmup = std::stod(v);
    else if (k == "--rpc-deadline-ms") a.rpc_deadline_ms = std::stod(v);
    else if (k == "--sessions") a.sessions = std::stoi(v);
    else if (k == "--spares") a.spares = std::stoi(v);
    else if (k == "--tokens") a.tokens = std::stoi(v);
    else if (k == "--seed") a.seed = (uint32_t)std::stoul(v);
    else if (k == "--flat-check") a.flat_check = v != "0";
    else throw Error("cascade_soak: unknown option " + k);
  }
  check(!a.node_bin.empty() && !a.model.empty(), "cascade_soak: give --node-bin CASCADE_BINARY and --model FILE");
  check(a.sessions >= 1 && a.spares >= 1 && a.tokens >= 1 && a.kill_min > 0 && a.kill_max >= a.kill_min,
        "cascade_soak: --sessions, --spares, --tokens >= 1 and 0 < --kill-min <= --kill-max");
  return a;
}

// The plaintext engine's greedy run of one prompt: logits before each token.
struct Reference {
  std::vector<int32_t> prompt;
  std::vector<std::vector<float>> logits;  // [tokens + 1][vocab]
  std::vector<int32_t> tokens;
};

Reference reference(const Model& m, std::vector<int32_t> prompt, int n) {
  Reference r{std::move(prompt), {}, {}};
  PlainBackend plain(m);
  std::vector<float> logits;
  plain.step(r.prompt.data(), (int)r.prompt.size(), false, logits);
  for (int i = 0; i <= n; ++i) {
    r.logits.push_back(logits);
    const int32_t t = argmax(logits.data(), (int)logits.size());
    r.tokens.push_back(t);
    if (i < n) plain.step(&t, 1, false, logits);
  }
  return r;
}

long proc_kib(pid_t pid, const char* field) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(field, 0) == 0) return std::atol(line.c_str() + std::strlen(field));
  return -1;
}

int open_fds(pid_t pid) {
  DIR* d = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  if (!d) return -1;
  int n = 0;
  while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

struct Sample {
  double t;
  long rss_kib;
  int fds;
};

struct Totals {
  std::mutex mu;
  int started = 0, finished = 0, failed = 0, mismatched = 0;
  float max_dlogit = 0;
  std::vector<std::string> failures;  // first few
  std::vector<double> recovery_s;     // per failover, reopen + replay
  std::vector<double> replay_s;       // per failover, the replay step
  std::vector<int> replayed;          // tokens per failover
  std::vector<double> gen_s;          // per finished generation
  std::vector<std::string> notices;
};

double now_s(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

}  // namespace

int soak(const Args& a) {
  const auto t0 = Clock::now();
  LoadedModel lm = load_model(a.model, {.require_tokenizer = false});
  const Model& model = lm.model;
  const PlanSpec spec{.alpha = 2, .beta = 2, .c = 0, .delta = 2, .front_layers = 1, .public_prefix = 1,
                      .client_head = -1};
  const Plan plan = Plan::make(spec, model.cfg);

  // References: a few prompts of different lengths, each checked many times.
  std::mt19937 rng(a.seed);
  std::vector<Reference> refs;
  for (int i = 0; i < 8; ++i) {
    std::vector<int32_t> prompt = {1};
    const int len = 8 + (int)(rng() % 40);
    for (int j = 1; j < len; ++j) prompt.push_back(3 + (int32_t)(rng() % (model.cfg.vocab_size - 3)));
    refs.push_back(reference(model, prompt, a.tokens));
  }

  LocalProcessCluster nodes({.node_binary = a.node_bin,
                             .node_command = {"node"},
                             .model_path = a.model,
                             .n_comp = plan.alpha(),
                             .n_attn = plan.n_attn(),
                             .n_spares = a.spares});
  RemoteClusterOptions base;
  base.tls = nodes.client_identity();
  base.link.rpc_deadline = std::chrono::milliseconds((long long)a.rpc_deadline_ms);
  base.stall_probe = std::chrono::milliseconds(1000);
  base.step_deadline = std::chrono::seconds(60);
  auto pool = nodes.spare_pool(model, spec, base.link);
  std::printf("soak: %d CompNodes + %d AttnNodes + %d spares of each role up in %.1f s; %d sessions for %.0f s, "
              "chaos every %.0f-%.0f s\n",
              plan.alpha(), plan.n_attn(), a.spares, now_s(t0), a.sessions, a.seconds, a.kill_min, a.kill_max);
  std::fflush(stdout);

  const auto start = Clock::now();
  const auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(a.seconds));
  Totals tot;
  std::atomic<bool> stop{false};
  // Per worker: when its current generation began (0 = idle), for the hang watchdog.
  std::vector<std::atomic<double>> began(a.sessions);
  for (auto& b : began) b = 0;

  auto worker = [&](int w) {
    std::mt19937 r(a.seed * 1000 + w);
    while (!stop && Clock::now() < end) {
      const Reference& ref = refs[r() % refs.size()];
      began[w] = now_s(start);
      {
        std::lock_guard<std::mutex> lock(tot.mu);
        ++tot.started;
      }
      std::string failure;
      float dmax = 0;
      bool mismatch = false;
      const auto g0 = Clock::now();
      FailoverBackend::Stats stats;
      try {
        FailoverBackend backend(model, plan, pool, base, [&](const std::string& line) {
          std::lock_guard<std::mutex> lock(tot.mu);
          tot.notices.push_back(line);
          std::printf("[%7.1f s] %s\n", now_s(start), line.c_str());
          std::fflush(stdout);
        });
        std::vector<float> logits;
        backend.step(ref.prompt.data(), (int)ref.prompt.size(), false, logits);
        for (int i = 0; i <= a.tokens; ++i) {
          for (size_t v = 0; v < logits.size(); ++v) dmax = std::max(dmax, std::fabs(logits[v] - ref.logits[i][v]));
          const int32_t t = argmax(logits.data(), (int)logits.size());
          if (t != ref.tokens[i] || dmax > 1e-4f) {
            mismatch = true;
            failure = "step " + std::to_string(i) + ": token " + std::to_string(t) + " (plaintext " +
                      std::to_string(ref.tokens[i]) + "), max |dlogit| " + std::to_string(dmax);
            break;
          }
          if (i < a.tokens) backend.step(&t, 1, false, logits);
        }
        stats = backend.stats();
      } catch (const std::exception& e) {
        failure = e.what();
      }
      began[w] = 0;
      std::lock_guard<std::mutex> lock(tot.mu);
      tot.max_dlogit = std::max(tot.max_dlogit, dmax);
      if (failure.empty()) {
        ++tot.finished;
        tot.gen_s.push_back(std::chrono::duration<double>(Clock::now() - g0).count());
      } else {
        ++(mismatch ? tot.mismatched : tot.failed);
        if (tot.failures.size() < 20) tot.failures.push_back(failure);
        std::printf("[%7.1f s] generation FAILED: %s\n", now_s(start), failure.c_str());
      }
      if (stats.failovers > 0) {
        tot.recovery_s.push_back(stats.recovery_seconds / stats.failovers);
        tot.replay_s.push_back(stats.replay_seconds / stats.failovers);
        tot.replayed.push_back(stats.replayed_tokens / stats.failovers);
      }
    }
  };
  std::vector<std::thread> workers;
  for (int w = 0; w < a.sessions; ++w) workers.emplace_back(worker, w);

  // The chaos and the measurements, on this thread (LocalProcessCluster is not thread-safe).
  json events = json::array();
  std::map<std::string, std::vector<Sample>> samples;  // by process name
  std::set<std::string> victims;  // names of processes hit
  std::set<std::string> victim_addresses;
  std::map<std::string, double> placed_at;  // when a process first held a place in the plan
  int spares_started = 0;
  std::vector<std::string> stopped;  // addresses of stopped processes, killed at the next event
  double next_chaos = a.kill_min + std::uniform_real_distribution<double>(0, a.kill_max - a.kill_min)(rng);
  double next_sample = 0;
  int hangs = 0;
  std::vector<bool> hang_reported(a.sessions, false);
  while (Clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const double t = now_s(start);
    for (int w = 0; w < a.sessions; ++w) {
      const double b = began[w];
      if (b > 0 && t - b > a.gen_deadline && !hang_reported[w]) {
        ++hangs;
        hang_reported[w] = true;
        std::printf("[%7.1f s] HANG: session %d's generation runs for %.0f s\n", t, w, t - b);
      }
    }
    if (t >= next_sample) {
      next_sample = t + 2;
      // Until a signal hits it (a stopped process is trivially flat).
      std::set<std::string> placed;
      for (const auto& [id, addr] : pool->placement().nodes) placed.insert(addr);
      for (const auto& p : nodes.processes()) {
        if (victims.count(p.name)) continue;
        if (placed.count(p.address) && !placed_at.count(p.name)) placed_at[p.name] = t;
        samples[p.name].push_back({t, proc_kib(p.pid, "VmRSS:"), open_fds(p.pid)});
      }
    }
    // Keep the pool full: a spare taken (for a node hit, or one too slow to
    // answer) is replaced by a new process.
    for (Role role : {Role::kComp, Role::kAttn})
      while (pool->spares_left(role) < a.spares) {
        const SpareNode fresh = nodes.add_spare(role);
        pool->add_spare(fresh);
        ++spares_started;
        std::printf("[%7.1f s] new %s spare at %s\n", now_s(start), role == Role::kComp ? "CompNode" : "AttnNode",
                    fresh.address.c_str());
      }
    if (t < next_chaos) continue;
    next_chaos = t + a.kill_min + std::uniform_real_distribution<double>(0, a.kill_max - a.kill_min)(rng);
    for (const std::string& addr : stopped) nodes.kill_at(addr);
    stopped.clear();
    // A node of the placement now, not one already hit (its sessions may not have noticed yet).
    const Placement place = pool->placement();
    std::vector<std::pair<NodeId, std::string>> cands;
    std::map<std::string, std::string> name_at;
    for (const auto& p : nodes.processes()) name_at[p.address] = p.name;
    for (const auto& [id, addr] : place.nodes)
      if (name_at.count(addr) && !victims.count(name_at[addr])) cands.push_back({id, addr});
    if (cands.empty()) continue;
    const auto [id, addr] = cands[rng() % cands.size()];
    const bool freeze = rng() % 2;
    const pid_t pid = nodes.pid_at(addr);
    victims.insert(name_at[addr]);
    victim_addresses.insert(addr);
    if (freeze) {
      kill(pid, SIGSTOP);
      stopped.push_back(addr);
    } else {
      nodes.kill_at(addr);
    }
    std::printf("[%7.1f s] chaos: %s %s (%s at %s)\n", t, freeze ? "SIGSTOP" : "SIGKILL", id.name(plan.beta()).c_str(),
                name_at[addr].c_str(), addr.c_str());
    std::fflush(stdout);
    events.push_back({{"t_s", t}, {"signal", freeze ? "SIGSTOP" : "SIGKILL"}, {"node", id.name(plan.beta())},
                      {"process", name_at[addr]}, {"address", addr}});
  }
  stop = true;
  // Generations in flight finish, within the per-generation deadline.
  const auto join_by = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                          std::chrono::duration<double>(a.gen_deadline));
  auto busy = [&] {
    for (auto& b : began)
      if (b > 0) return true;
    return false;
  };
  while (busy() && Clock::now() < join_by) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  if (busy()) {
    std::printf("soak: FAIL: HANG: generations still running %.0f s after the end\n", a.gen_deadline);
    std::fflush(stdout);
    std::_Exit(3);  // threads stuck in a generation cannot be joined
  }
  for (auto& w : workers) w.join();
  for (const std::string& addr : stopped) nodes.kill_at(addr);

  // Flat: every process that ran for a warm-up and then at least another
  // warm-up before a signal hit it (or the end), its RSS and fds at the end
  // of that span against the first sample after its warm-up.
  json procs = json::array();
  bool flat = true;
  long rss_growth_max = 0;
  int fd_growth_max = 0;
  for (const auto& [name, ss] : samples) {
    if (ss.empty()) continue;
    // A spare idles until it takes a place: its warm-up starts then.
    const double from = placed_at.count(name) ? std::max(ss.front().t, placed_at[name]) : ss.front().t;
    const Sample* warm = nullptr;
    for (const Sample& s : ss)
      if (s.t >= from + a.warmup) {
        warm = &s;
        break;
      }
    if (!warm || ss.back().t - warm->t < a.warmup) continue;
    const Sample& last = ss.back();
    // The counts swing with the sessions open at a sample (16, twice that
    // while sessions reopen after a failover), so flat means the high-water
    // mark stops rising: the second half of the span after warm-up peaks at
    // most 8 MiB (or 10 %) of RSS and 16 fds above the first half.
    const double mid = (warm->t + last.t) / 2;
    long rss_first = 0, rss_second = 0;
    int fd_first = 0, fd_second = 0;
    for (const Sample& s : ss) {
      if (s.t < warm->t) continue;
      long& r = s.t < mid ? rss_first : rss_second;
      int& f = s.t < mid ? fd_first : fd_second;
      r = std::max(r, s.rss_kib);
      f = std::max(f, s.fds);
    }
    const long rss_max = std::max(rss_first, rss_second);
    const int fd_max = std::max(fd_first, fd_second);
    const long drss = rss_second - rss_first;
    const int dfd = fd_second - fd_first;
    rss_growth_max = std::max(rss_growth_max, drss);
    fd_growth_max = std::max(fd_growth_max, dfd);
    const bool ok = drss <= std::max(8L * 1024, rss_first / 10) && dfd <= 16;
    flat = flat && ok;
    procs.push_back({{"process", name},
                     {"placed_t_s", placed_at.count(name) ? json(placed_at[name]) : json(nullptr)},
                     {"warm_t_s", warm->t},
                     {"last_t_s", last.t},
                     {"rss_kib_warm", warm->rss_kib},
                     {"rss_kib_end", last.rss_kib},
                     {"rss_kib_max", rss_max},
                     {"fds_warm", warm->fds},
                     {"fds_end", last.fds},
                     {"fds_max", fd_max},
                     {"rss_kib_peak_first_half", rss_first},
                     {"rss_kib_peak_second_half", rss_second},
                     {"fds_peak_first_half", fd_first},
                     {"fds_peak_second_half", fd_second},
                     {"flat", ok}});
  }

  std::lock_guard<std::mutex> lock(tot.mu);
  auto mean = [](const auto& v) {
    double s = 0;
    for (auto x : v) s += x;
    return v.empty() ? 0.0 : s / v.size();
  };
  auto maxof = [](const auto& v) {
    double m = 0;
    for (auto x : v) m = std::max<double>(m, x);
    return m;
  };
  flat = flat && !procs.empty();  // nothing judged is no evidence
  // Failovers from a node no signal hit: a node too slow to answer the probe.
  int unprovoked = 0;
  for (const std::string& line : tot.notices) {
    bool hit = false;
    for (const std::string& addr : victim_addresses) hit = hit || line.find(" at " + addr + " failed") != std::string::npos;
    unprovoked += !hit;
  }
  const bool pass = tot.failed == 0 && tot.mismatched == 0 && hangs == 0 && (flat || !a.flat_check) && tot.finished > 0 &&
                    tot.started == tot.finished;
  json out{{"command", "cascade_soak"},
           {"seconds", a.seconds},
           {"sessions", a.sessions},
           {"spares_per_role", a.spares},
           {"plan", "alpha=2 beta=2 c=0 delta=2 F=1"},
           {"tokens_per_generation", a.tokens},
           {"generations_started", tot.started},
           {"generations_finished_exact", tot.finished},
           {"generations_failed", tot.failed},
           {"generations_mismatched", tot.mismatched},
           {"hangs", hangs},
           {"max_abs_dlogit", tot.max_dlogit},
           {"generation_s_mean", mean(tot.gen_s)},
           {"generation_s_max", maxof(tot.gen_s)},
           {"chaos_events", events},
           {"rpc_deadline_ms", a.rpc_deadline_ms},
           {"failover_notices", tot.notices.size()},
           {"failovers_without_signal", unprovoked},
           {"spares_started_during_run", spares_started},
           {"sessions_failed_over", tot.recovery_s.size()},
           {"recovery_s_mean", mean(tot.recovery_s)},
           {"recovery_s_max", maxof(tot.recovery_s)},
           {"replay_step_s_mean", mean(tot.replay_s)},
           {"replay_step_s_max", maxof(tot.replay_s)},
           {"replayed_tokens_mean", mean(tot.replayed)},
           {"spares_dropped", pool->spares_dropped()},
           {"rss_kib_growth_max", rss_growth_max},
           {"fd_growth_max", fd_growth_max},
           {"processes", procs},
           {"failures", tot.failures},
           {"pass", pass}};
  std::printf(
      "soak: %.0f s, %d sessions: %d generations started, %d finished exact, %d failed, %d mismatched, %d hangs; "
      "max |dlogit| %.2e\n"
      "soak: %zu chaos events, %zu failover lines (%d for a node no signal hit), %d spares started, %zu sessions failed over (reopen + replay mean %.3f s, max %.3f s; "
      "the replay step alone mean %.3f s, %.0f tokens replayed on average)\n"
      "soak: %zu node processes with a span after warm-up: peak RSS growth (second half over first) max %ld KiB, peak fd growth max %d: %s\n"
      "soak: %s\n",
      a.seconds, a.sessions, tot.started, tot.finished, tot.failed, tot.mismatched, hangs, tot.max_dlogit,
      events.size(), tot.notices.size(), unprovoked, spares_started, tot.recovery_s.size(), mean(tot.recovery_s), maxof(tot.recovery_s),
      mean(tot.replay_s), mean(tot.replayed), procs.size(), rss_growth_max, fd_growth_max, flat ? "flat" : "NOT flat",
      pass ? "PASS" : "FAIL");
  for (const std::string& f : tot.failures) std::printf("  failure: %s\n", f.c_str());
  if (!a.json_path.empty()) write_file_atomic(a.json_path, out.dump(2) + "\n");
  return pass ? 0 : 1;
}

}  // namespace cascade

int main(int argc, char** argv) {
  try {
    return cascade::soak(cascade::parse(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
}
