// The `cascade` subcommands. Each add_* registers one subcommand on the app;
// its callback does the work and throws cascade::Error on bad input, which
// main() prints as one line with a non-zero exit.
#pragma once

#include <CLI/CLI.hpp>

#include "model/loader.h"
#include "client/generate.h"
#include "plan/plan.h"

namespace cascade::cli {

void add_generate(CLI::App& app);
void add_plan(CLI::App& app);
void add_synth(CLI::App& app);
void add_bench(CLI::App& app);
void add_audit(CLI::App& app);
void add_run(CLI::App& app);
void add_cert(CLI::App& app);
void add_serve(CLI::App& app);

// Options shared by subcommands.
struct ModelOptions {
  std::string model;
  std::string tokenizer;
  bool mmap = false;  // keep weights mapped instead of copying them to huge pages
  bool keep_quantized = false;  // LoadOptions::keep_quantized
};
void add_model_options(CLI::App* cmd, ModelOptions& o);
// Loads the model, printing what it loaded and how long it took to stderr.
LoadedModel load_with_progress(const ModelOptions& o, bool require_tokenizer = true);

void add_plan_options(CLI::App* cmd, PlanSpec& s);

// "ALPHA,BETA[,C,DELTA]" (the --cascade flag) over `spec`.
PlanSpec parse_cascade_flag(const std::string& s, PlanSpec spec);

// Path of this executable (node processes are started from it).
std::string self_binary();

// Prompt, length and sampling, shared by `generate` and `run`.
struct GenerationArgs {
  std::string prompt;
  int n = 64;
  SamplerConfig sampling;
  bool no_stop = false;
  GenerateOptions options() const;  // throws Error on a negative -n
};
void add_generation_options(CLI::App* cmd, GenerationArgs& g);

// Echoes the prompt, streams the generated text to stdout, and prints
// prefill and decode speed to stderr.
void print_generation(Backend& backend, const Tokenizer& tok, const GenerationArgs& g);

}  // namespace cascade::cli
