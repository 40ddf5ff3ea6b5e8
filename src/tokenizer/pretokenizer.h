// Pre-tokenizers — how byte-level BPE vocabularies split text into chunks
// before merging, one per GGUF `tokenizer.ggml.pre` family.
//
// Each is the published split of its model, run by a small backtracking
// matcher over Unicode categories (ICU's u_charType; \s is White_Space):
//
//  kGpt2 ("gpt-2", also a file without the key): GPT-2's regex
//    's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//  kLlama3 ("llama-bpe"): Llama 3's tokenizer.json regex
//    (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//     ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//  kQwen2 ("qwen2"): the same with \p{N} (one digit per chunk).
//  kSmolLM ("smollm"): every \p{N} isolated (HF Digits(individual_digits)),
//    then the GPT-2 regex on the text between digits.
//  kDeepSeekLLM ("deepseek-llm"): DeepSeek LLM's sequence of isolating
//    splits: [\r\n], \s?[cased letters]+, \s?[ASCII/fullwidth punctuation]+,
//    \s+$, [CJK/Hangul]+, \p{N}+ (each applied to the pieces of the one before).
//  kTekken ("tekken", Mistral Nemo): the tekken regex
//    [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|
//    [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|
//    \p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
//  kLlamaCppDefault ("default"): llama.cpp's fallback split, in sequence
//    [\p{P}\$\+<=>\^~\|]+, the GPT-2 regex, \p{N}+, [0-9][0-9][0-9].
//
// The regexes are those of llama.cpp's llama-vocab.cpp (which copies them
// from each model's tokenizer.json). Text between matches becomes a chunk of
// its own (HF's "Isolated" split), so chunks always cover the text exactly.
// Bytes that are not valid UTF-8 count as one character of no category.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace cascade {

enum class PreTokenizer { kGpt2, kLlama3, kQwen2, kSmolLM, kDeepSeekLLM, kTekken, kLlamaCppDefault };

// What a `tokenizer.ggml.pre` name implies, as llama.cpp's vocab loader sets
// it: the split, whether a chunk that is itself a token skips BPE merging
// (Llama 3, tekken: "ignore_merges"), and whether BOS is added when the file
// has no tokenizer.ggml.add_bos_token key.
struct PreTokenizerInfo {
  PreTokenizer split = PreTokenizer::kGpt2;
  bool ignore_merges = false;
  bool add_bos = false;
};

// "" is GPT-2's split (the original GPT-2 tokenizer's; llama.cpp would use
// its "default"). Aliases llama.cpp gives the same regex are accepted (e.g.
// "llama3", "dbrx" for kLlama3; "stablelm2" for kQwen2; "starcoder",
// "refact" for kSmolLM). Throws cascade::Error naming the supported names for
// anything else.
PreTokenizerInfo pre_tokenizer_from_name(const std::string& name);

// The chunks `text` splits into; views into `text`, covering it exactly.
std::vector<std::string_view> pretokenize(std::string_view text, PreTokenizer pre);

}  // namespace cascade
