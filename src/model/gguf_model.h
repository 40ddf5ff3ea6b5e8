// Loading a cascade::Model and Vocab from a GGUF file.
//
// Architectures: "llama", "mistral" (RopeStyle::kAdjacent: llama.cpp's
// converter permutes Q/K rows for adjacent-pair RoPE), "qwen2" (kNeoX, with
// attn_q/k/v biases) and "gpt2" (kNone; fused attn_qkv split into wq/wk/wv).
// Every tensor's shape is checked against the hyper-parameters. F32 tensors
// point into the memory map (kept alive in Model::file); F16, BF16 and the
// block-quantized types (Q4_0..Q8_0, Q2_K..Q6_K; mixed freely) are
// dequantized into Model::own() at load, so memory holds fp32.
//
// Llama-3 RoPE scaling comes from `<arch>.rope.scaling.{type,factor,
// low_freq_factor,high_freq_factor,original_context_length}`. llama.cpp
// instead stores the per-frequency divisors as a `rope_freqs.weight` tensor;
// when present it is checked against the llama3 formula (parameters from the
// keys, else factor = its largest entry, low 1, high 4, original context
// 8192) and the load fails with a clear Error if it does not match, since
// ModelConfig can only express the parametric form.
#pragma once

#include <string>

#include "model/gguf.h"
#include "model/model.h"
#include "tokenizer/vocab.h"

namespace cascade {

// Throws Error (one line naming the file, the problem and the fix) on any
// malformed file, unsupported architecture, missing or mis-shaped tensor, or,
// when require_tokenizer is true, missing tokenizer metadata. When it is
// false and the file has no tokenizer, `vocab` is left with no tokens.
// With keep_quantized, block-quantized weight matrices (and the embedding)
// stay in the mapped file as QuantMatrix views instead of being expanded.
void load_gguf_model(const std::string& path, Model& out, Vocab& vocab, bool require_tokenizer = true,
                     bool keep_quantized = false);
// The same from a parsed file (GgufFile::parse of bytes in memory, for fuzzers).
void load_gguf_model(const GgufFile& f, Model& out, Vocab& vocab, bool require_tokenizer = true,
                     bool keep_quantized = false);

// The tokenizer part alone: fills `vocab` from tokenizer.ggml.* keys.
// Returns false when the file has no tokenizer.ggml.tokens.
bool load_gguf_vocab(const GgufFile& f, Vocab& vocab);

// Llama-3 per-frequency divisor for rotary pair i of a head_dim-wide head, as
// llama.cpp's rope_freqs.weight stores it (1 = unscaled).
float llama3_rope_divisor(const ModelConfig& cfg, int i);

}  // namespace cascade
