// Vocab — the tokenizer's data as a model file stores it.
//
// Loaders fill this (GGUF `tokenizer.ggml.*` metadata, or a llama2.c
// tokenizer.bin); Tokenizer (tokenizer.h) turns it into encode/decode.
// Keeping the data separate lets the model loader stay free of tokenizer logic.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cascade {

// Append-only.
enum class VocabKind : int32_t {
  kSentencePiece = 0,  // GGUF tokenizer.ggml.model = "llama": scores, byte fallback
  kGPT2BPE = 1,        // GGUF "gpt2": byte-level BPE with merges
  kLlama2c = 2,        // llama2.c tokenizer.bin: pieces with plain spaces, scores
};

// GGUF token types (llama.cpp's llama_token_type); append-only.
enum class TokenType : int32_t {
  kUndefined = 0, kNormal = 1, kUnknown = 2, kControl = 3,
  kUserDefined = 4, kUnused = 5, kByte = 6,
};

struct Vocab {
  VocabKind kind = VocabKind::kSentencePiece;
  std::vector<std::string> tokens;     // piece bytes per id
  std::vector<float> scores;           // per id (empty for GPT-2 BPE)
  std::vector<int32_t> token_types;    // TokenType per id (may be empty)
  std::vector<std::string> merges;     // "a b" per rank (GPT-2 BPE only)
  std::string pre;                     // GGUF tokenizer.ggml.pre (pre-tokenizer name), may be empty
  int bos_id = -1;
  int eos_id = -1;
  int unk_id = -1;
  bool add_bos = true;                 // prepend BOS when encoding with add_special
  bool add_eos = false;                // append EOS when encoding with add_special
  bool add_space_prefix = true;        // SentencePiece dummy prefix " "
  int max_token_length = 0;            // llama2.c header field
};

}  // namespace cascade
