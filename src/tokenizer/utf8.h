// UTF-8 decoding and encoding, and GPT-2's table of a visible character for
// each byte: shared by the tokenizer, its pre-tokenizers and the model
// synthesizer (which writes a GPT-2 vocabulary).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace cascade {

struct Utf8Char {
  uint32_t cp;  // the byte value itself when !valid
  size_t len;   // bytes consumed (1 when !valid)
  bool valid;
};

// Strict decoding of the character at s[i] (no overlongs, surrogates or
// values above U+10FFFF); anything else is one invalid byte.
Utf8Char next_utf8(std::string_view s, size_t i);

// Appends code point `cp` (<= U+10FFFF) to `out` as UTF-8.
void append_utf8(std::string& out, uint32_t cp);

// GPT-2's bytes_to_unicode(): printable Latin-1 bytes map to themselves, the
// rest to U+0100 upwards in byte order, so every byte is a visible character.
const std::array<uint32_t, 256>& gpt2_byte_to_codepoint();

// gpt2_byte_to_codepoint()[b] as UTF-8.
std::string gpt2_byte_char(int b);

}  // namespace cascade
