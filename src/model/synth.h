// Model synthesizer: writes a GGUF with random (seeded, deterministic)
// weights in a real architecture's shape, so engines can be tested and
// benchmarked at sizes we have no trained weights for.
//
// The file carries every hyper-parameter key load_gguf_model reads, plus a
// tokenizer: copied from another GGUF (`tokenizer_from`), or generated (a
// byte-fallback SentencePiece vocab for llama, a byte-level BPE vocab with
// merges for gpt2) so that encode/decode works on any text.
//
// Weight values are a pure function of (seed, tensor name, element index),
// so synth_tensor_values() reproduces exactly what was written, and data is
// generated and written chunk by chunk (memory stays small even for 1B+).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/gguf.h"
#include "model/model.h"

namespace cascade {

// What to synthesize: the ModelConfig the file loads as (every field of
// CASCADE_MODEL_FIELDS, here with a tiny Llama's sizes by default), and how
// to make it. Three fields follow from the others and are left at their
// defaults: head_dim (dim / n_heads), vocab_size (the tokenizer's size) and
// rope_style (by arch); synth_config() fills them in.
struct SynthSpec : ModelConfig {
  SynthSpec() {
    dim = 64, hidden_dim = 128, n_layers = 2, n_heads = 4, n_kv_heads = 4;
    context_length = 128;
  }
  uint64_t seed = 1;
  // Path of a GGUF whose tokenizer.ggml.* keys are copied; the vocab size is
  // then its token count. Empty: generate a vocab of vocab_size_if_no_tokenizer.
  std::string tokenizer_from;
  int vocab_size_if_no_tokenizer = 320;
  // Type of the 2-D weight matrices (any type gguf.h lists); norms, biases
  // and position embeddings are always F32, as llama.cpp writes them. A
  // K-quant matrix whose rows are not a multiple of 256 falls back as
  // llama-quantize does: Q2_K/Q3_K -> Q4_0, Q4_K -> Q5_0, Q5_K -> Q5_1,
  // Q6_K -> Q8_0.
  GgmlType weight_type = GgmlType::kF32;
  // llama-quantize's Q4_K_M mix on top of weight_type Q4_K: output.weight,
  // and attn_v / ffn_down of the layers its use_more_bits() picks, are Q6_K.
  bool q4_k_m = false;
  bool tied_embeddings = false;  // omit output.weight
  std::string name = "cascade-synth";
};

// Presets: "tiny-llama", "tiny-gpt2", "llama-100m", "llama-3.2-1b",
// "gpt2-small". Throws Error naming the known presets for anything else.
SynthSpec synth_preset(const std::string& name);

// The config a file synthesized from `spec` loads as, with the derived
// fields filled in (vocab_size: the final token count).
ModelConfig synth_config(const SynthSpec& spec, int vocab_size);
std::vector<std::string> synth_preset_names();

// One tensor the synthesizer writes, in GGUF order (ne[0] innermost).
struct SynthTensor {
  std::string name;
  std::vector<uint64_t> ne;
  GgmlType type;
};

// The tensors synthesize_gguf writes for `spec` (vocab_size: the final token
// count), in file order.
std::vector<SynthTensor> synth_tensor_list(const SynthSpec& spec, int vocab_size);

// The fp32 values (before conversion to the tensor's type) of elements
// [begin, begin + count) of tensor `name`.
void synth_tensor_values(const SynthSpec& spec, const std::string& name, uint64_t begin, uint64_t count,
                         float* out);

// Generated vocabularies (exposed for tests and tools). Sizes must be at
// least 259 (SentencePiece: <unk>, <s>, </s>, 256 byte pieces) or 257
// (GPT-2: 256 byte tokens + <|endoftext|>).
void synth_sentencepiece_vocab(int size, GgufWriter& w);
void synth_gpt2_vocab(int size, GgufWriter& w);

// Writes the model to out_path (atomically: tmp file + rename). progress, if
// given, receives (bytes of tensor data written, total). Throws Error on a
// bad spec or I/O failure.
void synthesize_gguf(const SynthSpec& spec, const std::string& out_path,
                     const std::function<void(uint64_t done, uint64_t total)>& progress = nullptr);

}  // namespace cascade
