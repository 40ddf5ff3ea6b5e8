// Tokenizer — text <-> token ids for the three vocab kinds a model file can carry.
//
// Built once from a Vocab (vocab.h); all lookup tables (piece -> id, merge
// ranks) are made in the constructor so encode/decode are cheap afterwards.
// The object is immutable (encode/decode are const and keep no state), so one
// instance can be shared between threads; it is move-only.
//
// Encoding, per kind:
//  * kLlama2c: exactly llama2.c run.c `encode(text, bos, eos=0)`: a dummy-prefix
//    token " " for non-empty text, one token per UTF-8 character (or its bytes
//    as byte-fallback ids byte+3 when the character has no piece), then merge
//    the adjacent pair whose concatenated piece has the highest score, the
//    leftmost pair on ties, until none is left. run.c rescans all pairs per
//    merge; we keep a priority queue instead, which picks the same pair.
//    Differences from run.c: an embedded NUL byte is encoded as a byte (run.c
//    stops at it); when two ids share a piece the lower id is used (run.c's
//    bsearch picks either); a vocab without a " " piece gets no dummy prefix
//    (run.c would emit id -1).
//  * kSentencePiece: llama.cpp's SPM tokenizer: spaces become U+2581, a
//    U+2581 is prefixed when vocab.add_space_prefix, then symbol-level bigram
//    merges by score (highest first, leftmost on ties); characters that end up
//    in no piece become their byte tokens "<0xXX>" (unk when those are missing).
//    Empty text encodes to nothing (just BOS when asked).
//  * kGPT2BPE: byte-level BPE. Text is split into chunks by the pre-tokenizer
//    vocab.pre names (pretokenizer.h: gpt-2, llama-bpe, qwen2, smollm,
//    deepseek-llm, tekken, ...; an unknown name is an Error at construction).
//    Each chunk's bytes are mapped through GPT-2's bytes_to_unicode table and
//    merged by rank (lowest first, leftmost on ties); for llama-bpe and
//    tekken a chunk that is itself a token is taken whole (ignore_merges).
//
// Special tokens, as llama.cpp's llama_tokenize(text, add_special,
// parse_special) does (SentencePiece and GPT-2 BPE vocabs):
//  * add_special: BOS first when vocab.add_bos (GGUF
//    tokenizer.ggml.add_bos_token, else the vocab family's default), EOS last
//    when vocab.add_eos.
//  * parse_special: control (and unknown) tokens written in the text, e.g.
//    "<|im_start|>" or "<|begin_of_text|>", become their single ids; the text
//    between them is encoded on its own (SentencePiece adds its dummy-prefix
//    space after each). User-defined tokens are matched even without it.
//    Longer tokens are cut out first. Leave it false for text from users, so
//    that they cannot inject control tokens.
// The llama2.c kind takes add_special as "add BOS" and ignores parse_special.
//
// Decoding returns raw bytes (not necessarily valid UTF-8 on its own; see
// StreamDecoder for UTF-8-safe streaming):
//  * kLlama2c: run.c `decode`: "<0xXX>" pieces become that byte, and after
//    BOS a leading space of the piece is dropped.
//  * kSentencePiece: U+2581 -> space, byte tokens -> the byte, after BOS a
//    leading space is dropped (llama.cpp with add_space_prefix).
//  * kGPT2BPE: each character maps back through bytes_to_unicode; characters
//    outside that table (possible only in user-defined tokens) are kept as UTF-8.
//  * All kinds: BOS, EOS and other control tokens decode to "" (run.c would
//    print "\n<s>\n"/"\n</s>\n", but it stops at BOS and those are not text);
//    an unknown token decodes to its piece text (e.g. "<unk>").
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace cascade {

class Tokenizer {
 public:
  // Validates the vocab (non-empty; scores for SentencePiece/llama2c; sizes of
  // scores/types match tokens; special ids in range; merges well-formed) and
  // builds the lookup tables. Throws cascade::Error on bad data.
  explicit Tokenizer(Vocab vocab);
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  // Token ids for `text` (arbitrary bytes; UTF-8 expected). add_special adds
  // BOS / EOS as the vocab asks (see above); parse_special turns control
  // tokens written in the text into their ids.
  std::vector<int> encode(const std::string& text, bool add_special, bool parse_special = false) const;

  // The bytes `token` contributes to the output when it follows `prev_token`
  // (pass -1 when there is none). Throws cascade::Error for an id out of range.
  std::string decode(int prev_token, int token) const;
  // The bytes of a whole sequence: the concatenation of decode(prev, id) with
  // prev the previous id (-1 before the first).
  std::string decode(const std::vector<int>& ids) const;

  int bos() const;         // -1 when the vocab has none
  int eos() const;         // -1 when the vocab has none
  int vocab_size() const;
  VocabKind kind() const;
  const Vocab& vocab() const;
  // The id whose stored piece is exactly `piece`, or -1 (lowest id on duplicates).
  int find_piece(const std::string& piece) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cascade
