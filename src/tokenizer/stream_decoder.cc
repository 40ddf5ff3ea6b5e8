#include "tokenizer/stream_decoder.h"

namespace cascade {
namespace {

bool is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// Total length a lead byte announces, 0 for bytes that cannot start a
// multibyte sequence (ASCII, continuation, and never-valid leads).
size_t multibyte_length(unsigned char lead) {
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;
}

}  // namespace

size_t incomplete_utf8_tail(const std::string& bytes) {
  const size_t n = bytes.size();
  // Walk back over at most 3 continuation bytes to the lead byte.
  size_t cont = 0;
  while (cont < 3 && cont < n && is_continuation(static_cast<unsigned char>(bytes[n - 1 - cont]))) ++cont;
  if (cont == n) return 0;
  const size_t need = multibyte_length(static_cast<unsigned char>(bytes[n - 1 - cont]));
  return need > cont + 1 ? cont + 1 : 0;
}

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, int prev_token)
    : tokenizer_(tokenizer), prev_token_(prev_token) {}

std::string StreamDecoder::push(int token) {
  pending_ += tokenizer_.decode(prev_token_, token);
  prev_token_ = token;
  const size_t hold = incomplete_utf8_tail(pending_);
  std::string out = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out;
  out.swap(pending_);
  return out;
}

}  // namespace cascade
