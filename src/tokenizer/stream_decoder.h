// StreamDecoder — turns generated token ids into text without splitting a
// UTF-8 character across two outputs.
//
// A character can be spread over several tokens (byte-fallback tokens such as
// <0xE2><0x98><0x83> for "☃", or byte-level BPE pieces). push() returns only
// bytes that end on a character boundary and holds back an incomplete
// multibyte tail (at most 3 bytes) until later tokens complete it.
//
// Bytes that can never become valid UTF-8 (a stray continuation byte, a lead
// byte followed by a non-continuation byte, 0xC0/0xC1/0xF5..0xFF) are passed
// through as-is rather than replaced with U+FFFD, so the concatenated output
// always equals Tokenizer::decode of the whole sequence. flush() likewise
// returns a held-back incomplete tail as raw bytes.
#pragma once

#include <string>

#include "tokenizer/tokenizer.h"

namespace cascade {

class StreamDecoder {
 public:
  // `tokenizer` must outlive this object. `prev_token` is the token before the
  // first pushed one (e.g. the last prompt token, often BOS), which decides
  // whether a leading space is dropped; -1 for none.
  explicit StreamDecoder(const Tokenizer& tokenizer, int prev_token = -1);

  // Appends `token`'s bytes and returns those that complete whole characters.
  // Throws cascade::Error for an id outside the vocab.
  std::string push(int token);

  // Returns whatever is still held back and clears it.
  std::string flush();

 private:
  const Tokenizer& tokenizer_;
  int prev_token_;
  std::string pending_;  // bytes not yet returned: an incomplete UTF-8 tail
};

// Number of bytes at the end of `bytes` that form a valid but incomplete UTF-8
// sequence (a lead byte plus fewer continuation bytes than it announces), 0..3.
size_t incomplete_utf8_tail(const std::string& bytes);

}  // namespace cascade
