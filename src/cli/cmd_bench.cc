// cascade bench: speed of the plaintext engine and of in-process Cascade.
//
//   cascade bench engine   prefill / decode tokens/s, GFLOP/s and GB/s next
//                          to this machine's measured GEMM and memory peaks
//   cascade bench cascade  Cascade vs plaintext time on the same model, and
//                          traffic per token per layer vs the protocol formula
// Without -m both synthesize a ~100M-parameter Llama (cached under /tmp).
// Each prints the kernels' ISA path (CASCADE_ISA forces one, kernels/isa.h)
// and OpenBLAS's core (OPENBLAS_CORETYPE forces one), which the GEMM peak
// and attention use.
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <numeric>
#include <random>
#include <thread>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "engine/backend.h"
#include "engine/batch.h"
#include "kernels/isa.h"
#include "kernels/kernels.h"
#include "kernels/peak.h"
#include "model/cost.h"
#include "model/synth.h"
#include "nodes/local_cluster.h"
#include "nodes/message.h"
#include "nodes/traffic.h"
#include "rpc/local_process_cluster.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/host_counters.h"

namespace cascade::cli {

namespace {

using clock_type = std::chrono::steady_clock;
double seconds_since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}

std::string default_model() {
  std::string dir = "/tmp/cascade-bench";
  std::filesystem::create_directories(dir);
  std::string path = dir + "/llama-100m.gguf";
  if (!std::filesystem::exists(path)) {
    fprintf(stderr, "synthesizing %s (llama-100m preset) ...\n", path.c_str());
    synthesize_gguf(synth_preset("llama-100m"), path, [](uint64_t d, uint64_t t) {
      fprintf(stderr, "\rsynth: %3d%%", t ? (int)(100 * d / t) : 100);
    });
    fprintf(stderr, "\n");
  }
  return path;
}

std::vector<int32_t> bench_prompt(int n, int vocab) {
  std::mt19937 rng(42);
  std::vector<int32_t> p(n);
  for (auto& t : p) t = 3 + (int)(rng() % (vocab - 3));
  p[0] = 1;
  return p;
}

// Wall and host CPU time of a prefill and of the decode steps after it.
struct Timing {
  double prefill_s = 1e30, decode_s = 1e30;
  double prefill_cpu_s = 1e30, decode_cpu_s = 1e30;  // host CPU: all processes
  double prefill_proc_s = 1e30, decode_proc_s = 1e30;  // this process's CPU
  void keep_best(const Timing& t) {
    prefill_s = std::min(prefill_s, t.prefill_s);
    decode_s = std::min(decode_s, t.decode_s);
    prefill_cpu_s = std::min(prefill_cpu_s, t.prefill_cpu_s);
    decode_cpu_s = std::min(decode_cpu_s, t.decode_cpu_s);
    prefill_proc_s = std::min(prefill_proc_s, t.prefill_proc_s);
    decode_proc_s = std::min(decode_proc_s, t.decode_proc_s);
  }
};

// Best of `reps` runs of: prefill n_prompt, then n_decode single steps.
template <typename MakeBackend>
Timing time_backend(MakeBackend make, const std::vector<int32_t>& prompt, int n_decode, int reps) {
  Timing best;
  std::vector<float> logits;
  for (int r = 0; r < reps; ++r) {
    auto backend = make();
    Timing one;
    auto t = clock_type::now();
    double cpu = host_cpu_seconds(), proc = process_cpu_seconds();
    backend->step(prompt.data(), (int)prompt.size(), false, logits);
    one.prefill_s = seconds_since(t);
    one.prefill_cpu_s = host_cpu_seconds() - cpu;
    one.prefill_proc_s = process_cpu_seconds() - proc;
    t = clock_type::now();
    cpu = host_cpu_seconds(), proc = process_cpu_seconds();
    int32_t tok = 5;
    for (int i = 0; i < n_decode; ++i) backend->step(&tok, 1, false, logits);
    one.decode_s = seconds_since(t);
    one.decode_cpu_s = host_cpu_seconds() - cpu;
    one.decode_proc_s = process_cpu_seconds() - proc;
    best.keep_best(one);
  }
  return best;
}

// Best of `reps` rounds for each of two backends, run in turn (a, b, a, b,
// ...), so that drift in the machine's speed (memory bandwidth above all)
// hits both alike.
template <typename MakeA, typename MakeB>
std::pair<Timing, Timing> time_in_turn(MakeA a, MakeB b, const std::vector<int32_t>& prompt, int n_decode, int reps) {
  Timing ta, tb;
  for (int r = 0; r < reps; ++r) {
    ta.keep_best(time_backend(a, prompt, n_decode, 1));
    tb.keep_best(time_backend(b, prompt, n_decode, 1));
  }
  return {ta, tb};
}

void write_json(const std::string& path, const nlohmann::json& j) {
  if (path.empty()) return;
  write_file_atomic(path, j.dump(2) + "\n");
  fprintf(stderr, "wrote %s\n", path.c_str());
}

void bench_engine(const ModelOptions& mo, int n_prompt, int n_decode, const std::string& json_out) {
  ModelOptions o = mo;
  if (o.model.empty()) o.model = default_model();
  LoadedModel lm = load_with_progress(o, false);
  const auto& c = lm.model.cfg;
  fprintf(stderr, "measuring machine peaks (%d threads) ...\n", omp_get_max_threads());
  const Rate gemm = measure_gemm_peak();
  const Rate bw = measure_read_bandwidth();
  const double gemm_peak = gemm.wall, bw_peak = bw.wall;
  auto prompt = bench_prompt(n_prompt, c.vocab_size);
  fprintf(stderr, "timing prefill %d + decode %d ...\n", n_prompt, n_decode);
  Timing t = time_backend([&] { return std::make_unique<PlainBackend>(lm.model); }, prompt, n_decode, 3);

  const double prefill_flops = block_flops_per_token(c) * n_prompt + attention_flops(c, 0, n_prompt) + head_flops(c);
  const double prefill_gflops = prefill_flops / t.prefill_s / 1e9;
  const double step_bytes = decode_bytes(c, n_prompt + n_decode / 2.0);  // the mean cache over the steps
  const double tok_s = n_decode / t.decode_s;
  const double decode_gbs = step_bytes * tok_s / 1e9;
  const double bound_ms = step_bytes / (bw_peak * 1e9) * 1e3;
  const double decode_ms = 1e3 / tok_s;
  // The same per second of this process's CPU time: what other load on a
  // shared machine does not move (with one thread; OpenMP's spin-waits for a
  // descheduled thread do count).
  const double prefill_gflops_cpu = prefill_flops / t.prefill_proc_s / 1e9;
  const double decode_ms_cpu = t.decode_proc_s / n_decode * 1e3;
  const double bound_ms_cpu = step_bytes / (bw.cpu * 1e9) * 1e3;

  printf("model: %.1fM params, %d blocks, d=%d, vocab %d\n", lm.model.n_params() / 1e6, c.n_layers, c.dim,
         c.vocab_size);
  printf("kernels: %s; %d threads\n", kernel_paths().c_str(), omp_get_max_threads());
  printf("machine: OpenBLAS sgemm peak %.1f GFLOP/s, read bandwidth %.1f GB/s\n", gemm_peak, bw_peak);
  printf("prefill %d tokens: %.3f s = %.1f tokens/s, %.1f GFLOP/s = %.0f%% of GEMM peak\n", n_prompt,
         t.prefill_s, n_prompt / t.prefill_s, prefill_gflops, 100 * prefill_gflops / gemm_peak);
  printf("decode %d tokens: %.2f ms/token = %.1f tokens/s, %.1f GB/s; bandwidth bound %.2f ms/token; "
         "ratio %.2fx the bound\n",
         n_decode, decode_ms, tok_s, decode_gbs, bound_ms, decode_ms / bound_ms);
  printf("per second of this process's CPU: sgemm %.1f GFLOP/s, read %.1f GB/s; prefill %.1f GFLOP/s = %.0f%% "
         "of sgemm; decode %.2f ms/token = %.2fx the bound\n",
         gemm.cpu, bw.cpu, prefill_gflops_cpu, 100 * prefill_gflops_cpu / gemm.cpu, decode_ms_cpu,
         decode_ms_cpu / bound_ms_cpu);
  write_json(json_out, {{"model", o.model},
                        {"params_m", lm.model.n_params() / 1e6},
                        {"kernel_isa", isa_name(active_isa())},
                        {"kernel_isa_reason", isa_reason()},
                        {"openblas_core", openblas_get_corename()},
                        {"threads", omp_get_max_threads()},
                        {"gemm_peak_gflops", gemm_peak},
                        {"read_bandwidth_gbs", bw_peak},
                        {"prefill_tokens", n_prompt},
                        {"prefill_s", t.prefill_s},
                        {"prefill_tokens_per_s", n_prompt / t.prefill_s},
                        {"prefill_gflops", prefill_gflops},
                        {"prefill_fraction_of_gemm_peak", prefill_gflops / gemm_peak},
                        {"decode_tokens", n_decode},
                        {"decode_ms_per_token", decode_ms},
                        {"decode_tokens_per_s", tok_s},
                        {"decode_gbs", decode_gbs},
                        {"decode_bound_ms_per_token", bound_ms},
                        {"decode_ratio_to_bound", decode_ms / bound_ms},
                        {"process_cpu",
                         {{"gemm_peak_gflops", gemm.cpu},
                          {"read_bandwidth_gbs", bw.cpu},
                          {"prefill_s", t.prefill_proc_s},
                          {"prefill_gflops", prefill_gflops_cpu},
                          {"prefill_fraction_of_gemm_peak", prefill_gflops_cpu / gemm.cpu},
                          {"decode_ms_per_token", decode_ms_cpu},
                          {"decode_ratio_to_bound", decode_ms_cpu / bound_ms_cpu}}}});
}

void bench_cascade(const ModelOptions& mo, PlanSpec spec, int n_prompt, int n_decode,
                   const std::string& json_out) {
  ModelOptions o = mo;
  if (o.model.empty()) o.model = default_model();
  LoadedModel lm = load_with_progress(o, false);
  const auto& c = lm.model.cfg;
  Plan plan = Plan::make(spec, c);
  auto prompt = bench_prompt(n_prompt, c.vocab_size);
  fprintf(stderr, "timing plaintext and cascade alpha=%d beta=%d: prefill %d + decode %d ...\n",
          plan.alpha(), plan.beta(), n_prompt, n_decode);
  auto [tp, tc] = time_in_turn([&] { return std::make_unique<PlainBackend>(lm.model); },
                               [&] { return std::make_unique<LocalCluster>(lm.model, plan); }, prompt, n_decode, 3);

  // Traffic of one decode step, out of and into the owning CompNode, per block.
  LocalCluster cl(lm.model, plan);
  std::vector<float> logits;
  cl.step(prompt.data(), n_prompt, false, logits);
  const int p = cl.position();
  const int owner = plan.comp_of(p);
  check(owner >= 0, "bench: the decode position is kept by the client; use a longer prompt");
  const RoleStats before = cl.comp(owner).stats();
  int32_t tok = 5;
  cl.step(&tok, 1, false, logits);
  const RoleStats& after = cl.comp(owner).stats();
  const int blocks = c.n_layers - plan.front_layers();
  // Bytes in counts the client's hidden row and partials; take partials only.
  Message hidden;
  hidden.pos = {p};
  hidden.rows.resize(c.dim);
  const double out_b = (after.bytes_out - before.bytes_out) / (double)blocks;
  const double in_b = (after.bytes_in - before.bytes_in - (double)hidden.wire_bytes()) / (double)blocks;
  const DecodeTraffic f = decode_traffic(plan, c);
  const double formula_out = 4.0 * f.comp_out, formula_in = 4.0 * f.comp_in;

  printf("kernels: %s\n", kernel_paths().c_str());
  printf("model: %.1fM params, %d blocks; plan alpha=%d beta=%d (%d nodes) c=%d delta=%d F=%d head=%d, %s protocol\n",
         lm.model.n_params() / 1e6, c.n_layers, plan.alpha(), plan.beta(), plan.alpha() + plan.n_attn(),
         spec.c, spec.delta, spec.front_layers, plan.head(), protocol_name(plan.protocol()));
  printf("prefill %d: plaintext %.3f s, cascade %.3f s, ratio %.2fx\n", n_prompt, tp.prefill_s, tc.prefill_s,
         tc.prefill_s / tp.prefill_s);
  printf("decode %d: plaintext %.3f s, cascade %.3f s, ratio %.2fx\n", n_decode, tp.decode_s, tc.decode_s,
         tc.decode_s / tp.decode_s);
  printf("traffic per token per block, out of the owning CompNode: %.0f B; formula (nodes/traffic.h) %.0f B "
         "-> ratio %.3f\n", out_b, formula_out, out_b / formula_out);
  printf("traffic per token per block, back into it: %.0f B; formula %.0f B -> ratio %.3f\n", in_b, formula_in,
         in_b / formula_in);
  printf("traffic per token per block, all links (formula): %.0f B (AttnNode to merger %.0f B, client to merger %.0f B)\n",
         4.0 * f.total(), 4.0 * f.attn_to_attn, 4.0 * f.client_to_attn);
  write_json(json_out, {{"model", o.model},
                        {"alpha", plan.alpha()},
                        {"beta", plan.beta()},
                        {"protocol", protocol_name(plan.protocol())},
                        {"nodes", plan.alpha() + plan.n_attn()},
                        {"front_layers", spec.front_layers},
                        {"client_head", plan.head()},
                        {"prefill_tokens", n_prompt},
                        {"plain_prefill_s", tp.prefill_s},
                        {"cascade_prefill_s", tc.prefill_s},
                        {"prefill_ratio", tc.prefill_s / tp.prefill_s},
                        {"decode_tokens", n_decode},
                        {"plain_decode_s", tp.decode_s},
                        {"cascade_decode_s", tc.decode_s},
                        {"decode_ratio", tc.decode_s / tp.decode_s},
                        {"bytes_out_per_token_block", out_b},
                        {"formula_out_bytes", formula_out},
                        {"bytes_in_per_token_block", in_b},
                        {"formula_in_bytes", formula_in},
                        {"formula_all_links_bytes", 4.0 * f.total()}});
}

void bench_remote(const ModelOptions& mo, PlanSpec spec, int n_prompt, int n_decode, const std::string& json_out) {
  ModelOptions o = mo;
  if (o.model.empty()) o.model = default_model();
  LoadedModel lm = load_with_progress(o, false);
  const auto& c = lm.model.cfg;
  Plan plan = Plan::make(spec, c);
  fprintf(stderr, "starting %d node processes on loopback (mutual TLS) ...\n", plan.alpha() + plan.n_attn());
  LocalProcessCluster nodes({.node_binary = self_binary(),
                             .model_path = o.model,
                             .n_comp = plan.alpha(),
                             .n_attn = plan.n_attn(),
                             .map_weights = o.mmap});
  auto prompt = bench_prompt(n_prompt, c.vocab_size);
  fprintf(stderr, "timing plaintext and remote cascade: prefill %d + decode %d ...\n", n_prompt, n_decode);
  auto [tp, tr] = time_in_turn([&] { return std::make_unique<PlainBackend>(lm.model); },
                               [&] { return nodes.connect(lm.model, plan); }, prompt, n_decode, 2);

  // Loopback bytes per decode step, all parties together, against the
  // protocol's floats for one token (decode_token_floats, nodes/traffic.h).
  const auto t_open = clock_type::now();
  auto session = nodes.connect(lm.model, plan);
  const double open_s = seconds_since(t_open);
  std::vector<float> logits;
  session->step(prompt.data(), n_prompt, false, logits);
  const int reps = 16;
  const int64_t before = loopback_tx_bytes();
  int32_t tok = 5;
  for (int i = 0; i < reps; ++i) session->step(&tok, 1, false, logits);
  const int64_t after = loopback_tx_bytes();
  const double formula = 4.0 * decode_token_floats(plan, c);
  const double wire = (after - before) / (double)reps;

  printf("model: %.1fM params; plan alpha=%d beta=%d (%d node processes) c=%d delta=%d F=%d, %s protocol\n",
         lm.model.n_params() / 1e6, plan.alpha(), plan.beta(), plan.alpha() + plan.n_attn(), spec.c, spec.delta,
         spec.front_layers, protocol_name(plan.protocol()));
  printf("prefill %d: plaintext %.3f s, remote cascade %.3f s, ratio %.2fx\n", n_prompt, tp.prefill_s,
         tr.prefill_s, tr.prefill_s / tp.prefill_s);
  printf("decode %d: plaintext %.3f s, remote cascade %.3f s, ratio %.2fx\n", n_decode, tp.decode_s, tr.decode_s,
         tr.decode_s / tp.decode_s);
  printf("bytes on the wire per generated token (loopback, all links): %.0f; protocol floats %.0f B -> "
         "ratio %.3f (TCP/IP, TLS, HTTP/2, protobuf and acks included)\n",
         wire, formula, wire / formula);
  printf("session open (the client's server, OpenSession on every node; links connect in the background): %.0f ms\n",
         open_s * 1e3);
  // What the host's cores did: on H cores no schedule beats CPU / H, so the
  // CPU ratio is the wall ratio all processes on one host cannot go under.
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  printf("host CPU (all processes and the kernel, /proc/stat): prefill plaintext %.2f s, remote %.2f s (%.2fx); "
         "decode plaintext %.2f s, remote %.2f s (%.2fx)\n",
         tp.prefill_cpu_s, tr.prefill_cpu_s, tr.prefill_cpu_s / tp.prefill_cpu_s, tp.decode_cpu_s, tr.decode_cpu_s,
         tr.decode_cpu_s / tp.decode_cpu_s);
  printf("on these %u cores the remote wall time cannot go under CPU / %u: prefill %.2fx, decode %.2fx of plaintext\n",
         cores, cores, tr.prefill_cpu_s / cores / tp.prefill_s, tr.decode_cpu_s / cores / tp.decode_s);
  write_json(json_out, {{"model", o.model},
                        {"alpha", plan.alpha()},
                        {"beta", plan.beta()},
                        {"node_processes", plan.alpha() + plan.n_attn()},
                        {"protocol", protocol_name(plan.protocol())},
                        {"prefill_tokens", n_prompt},
                        {"plain_prefill_s", tp.prefill_s},
                        {"remote_prefill_s", tr.prefill_s},
                        {"prefill_ratio", tr.prefill_s / tp.prefill_s},
                        {"decode_tokens", n_decode},
                        {"plain_decode_s", tp.decode_s},
                        {"remote_decode_s", tr.decode_s},
                        {"decode_ratio", tr.decode_s / tp.decode_s},
                        {"wire_bytes_per_token", wire},
                        {"formula_bytes_per_token", formula},
                        {"session_open_s", open_s},
                        {"host_cores", cores},
                        {"plain_prefill_cpu_s", tp.prefill_cpu_s},
                        {"remote_prefill_cpu_s", tr.prefill_cpu_s},
                        {"plain_decode_cpu_s", tp.decode_cpu_s},
                        {"remote_decode_cpu_s", tr.decode_cpu_s}});
}

// Batched decode (engine/batch.h): for each session count S, S plaintext
// sessions prefill n_prompt tokens in one batched step, then decode
// n_decode steps with all S in every step. Reports aggregate tokens/s
// against one session's and the time per output token (each step gives
// every session one token), also per second of this process's CPU time.
void bench_batch(const ModelOptions& mo, int n_prompt, int n_decode, const std::vector<int>& counts,
                 const std::string& json_out) {
  ModelOptions o = mo;
  if (o.model.empty()) o.model = default_model();
  LoadedModel lm = load_with_progress(o, false);
  const auto& c = lm.model.cfg;
  check(n_prompt >= 1 && n_decode >= 1, "bench batch: --prompt and --decode must be at least 1");
  for (int s : counts) check(s >= 1, "bench batch: session counts must be at least 1");
  const auto prompt = bench_prompt(n_prompt, c.vocab_size);
  printf("model: %.1fM params; kernels: %s; %d threads\n", lm.model.n_params() / 1e6, kernel_paths().c_str(),
         omp_get_max_threads());
  printf("%8s %10s %13s %9s %11s %11s %15s %9s\n", "sessions", "prefill s", "decode tok/s", "x one", "p50 ms/tok",
         "p99 ms/tok", "tok/CPU-second", "x one");
  nlohmann::json runs = nlohmann::json::array();
  double one = 0, one_cpu = 0;
  for (int S : counts) {
    std::vector<std::unique_ptr<Engine>> engines;
    std::vector<std::vector<float>> logits(S, std::vector<float>(c.vocab_size));
    std::vector<BatchItem> items;
    for (int i = 0; i < S; ++i) {
      engines.push_back(std::make_unique<Engine>(lm.model));
      items.push_back({engines.back().get(), prompt.data(), n_prompt, logits[i].data()});
    }
    auto t = clock_type::now();
    forward_batch(items);
    const double prefill_s = seconds_since(t);
    std::vector<int32_t> next(S);
    std::vector<double> step_ms;
    const double cpu0 = process_cpu_seconds();
    for (int d = 0; d < n_decode; ++d) {
      for (int i = 0; i < S; ++i) {
        next[i] = argmax(logits[i].data(), c.vocab_size);
        items[i].tokens = &next[i];
        items[i].n = 1;
      }
      t = clock_type::now();
      forward_batch(items);
      step_ms.push_back(seconds_since(t) * 1e3);
    }
    const double tok_cpu = S * n_decode / (process_cpu_seconds() - cpu0);
    const double total_s = std::accumulate(step_ms.begin(), step_ms.end(), 0.0) / 1e3;
    const double tok_s = S * n_decode / total_s;
    if (one == 0 && S == 1) one = tok_s, one_cpu = tok_cpu;
    std::vector<double> sorted = step_ms;
    std::sort(sorted.begin(), sorted.end());
    const double p50 = sorted[sorted.size() / 2], p99 = sorted[std::min(sorted.size() - 1, sorted.size() * 99 / 100)];
    char ratio[32] = "-", ratio_cpu[32] = "-";
    if (one > 0) snprintf(ratio, sizeof ratio, "%.2fx", tok_s / one);
    if (one_cpu > 0) snprintf(ratio_cpu, sizeof ratio_cpu, "%.2fx", tok_cpu / one_cpu);
    printf("%8d %10.3f %13.1f %9s %11.2f %11.2f %15.1f %9s\n", S, prefill_s, tok_s, ratio, p50, p99, tok_cpu, ratio_cpu);
    runs.push_back({{"sessions", S},
                    {"prefill_s", prefill_s},
                    {"decode_tokens_per_s", tok_s},
                    {"vs_one_session", one > 0 ? tok_s / one : 0.0},
                    {"p50_ms_per_token", p50},
                    {"p99_ms_per_token", p99},
                    {"decode_tokens_per_cpu_s", tok_cpu},
                    {"vs_one_session_per_cpu_s", one_cpu > 0 ? tok_cpu / one_cpu : 0.0}});
  }
  write_json(json_out, {{"model", o.model},
                        {"kernel_isa", isa_name(active_isa())},
                        {"threads", omp_get_max_threads()},
                        {"prompt_tokens", n_prompt},
                        {"decode_steps", n_decode},
                        {"runs", runs}});
}

}  // namespace

void add_bench(CLI::App& app) {
  struct Args {
    ModelOptions model;
    PlanSpec plan{.alpha = 8, .beta = 8, .c = 6, .delta = 3};
    int prompt = 512, decode = 64;
    std::vector<int> sessions{1, 8, 16, 32};
    std::string json;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("bench", "benchmarks (not tests): engine speed, cascade overhead");
  cmd->require_subcommand(1);
  for (const char* name : {"engine", "cascade", "remote", "batch"}) {
    CLI::App* sub = cmd->add_subcommand(name, name == std::string("engine")
                                                  ? "plaintext prefill/decode speed vs machine peaks"
                                                  : "in-process cascade vs plaintext, and traffic");
    sub->add_option("-m,--model", a->model.model, "model (default: synthesized llama-100m)");
    sub->add_flag("--mmap", a->model.mmap, "keep weights mapped from the file (no huge-page copy)");
    sub->add_flag("--keep-quantized", a->model.keep_quantized, "keep quantized weights quantized in memory");
    if (name == std::string("remote")) sub->description("node processes over gRPC + mutual TLS on loopback vs plaintext");
    if (name == std::string("batch")) {
      sub->description("plaintext decode of many sessions batched per step: aggregate tokens/s, time per token");
      sub->add_option("--sessions", a->sessions, "session counts to run (the first should be 1)")
          ->delimiter(',')
          ->capture_default_str();
    }
    sub->add_option("--prompt", a->prompt, "prefill tokens")->capture_default_str();
    sub->add_option("--decode", a->decode, "decode steps")->capture_default_str();
    sub->add_option("--json", a->json, "write results as JSON here");
    if (name != std::string("engine") && name != std::string("batch")) add_plan_options(sub, a->plan);
    std::string n = name;
    sub->callback([a, n] {
      if (n == "batch")
        bench_batch(a->model, a->prompt, a->decode, a->sessions, a->json);
      else if (n == "engine")
        bench_engine(a->model, a->prompt, a->decode, a->json);
      else if (n == "cascade")
        bench_cascade(a->model, a->plan, a->prompt, a->decode, a->json);
      else
        bench_remote(a->model, a->plan, a->prompt, a->decode, a->json);
    });
  }
}

}  // namespace cascade::cli
