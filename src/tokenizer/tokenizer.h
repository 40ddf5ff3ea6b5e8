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
//  * kGPT2BPE: byte-level BPE. Text is split by a hand-written GPT-2
//    pre-tokenizer ('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+|
//    ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+), or for vocab.pre == "llama-bpe" the
//    Llama-3 variant (case-insensitive contractions, an optional non-letter
//    before letters, numbers in groups of 1-3 digits, newlines kept with the
//    preceding whitespace/punctuation). Each chunk's bytes are mapped through
//    GPT-2's bytes_to_unicode table and merged by rank (lowest first, leftmost
//    on ties). Unicode classes are approximated without tables: letters are
//    ASCII letters plus every codepoint >= 0x80 that is not whitespace, a digit,
//    or in a known punctuation/symbol/emoji block; digits are 0-9 plus the
//    fullwidth and a few common script digit blocks. Bytes that are not valid
//    UTF-8 are kept as single "punctuation" units, so every byte string
//    round-trips.
//
// Special/control tokens written in the input text (e.g. "<s>",
// "<|begin_of_text|>") are NOT recognised: they are encoded as plain text.
// Callers add BOS through `add_bos` and other control ids by hand.
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

  // Token ids for `text` (arbitrary bytes; UTF-8 expected), preceded by BOS
  // when add_bos (and the vocab has one). Never adds EOS.
  std::vector<int> encode(const std::string& text, bool add_bos) const;

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

// The chunks the GPT-2 pre-tokenizer (or, when llama3, the Llama-3 variant)
// splits `text` into before BPE; views into `text`, which they cover exactly.
// Exposed for tests and for inspecting how a prompt is split.
std::vector<std::string_view> pretokenize_bpe(std::string_view text, bool llama3);

}  // namespace cascade
