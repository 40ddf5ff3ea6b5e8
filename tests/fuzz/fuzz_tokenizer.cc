// Fuzz target: tokenizer vocab loading, then encode/decode of arbitrary bytes.
//
// Input: u8 flags, u16 vocab_size, u32 length + that many bytes of vocab
// file, then the text. flags bit 0: the vocab file is a GGUF (its
// tokenizer.ggml.* keys, through load_gguf_vocab) rather than a llama2.c
// tokenizer.bin of vocab_size pieces (parse_llama2c_vocab); bit 1:
// add_special; bit 2: parse_special. The text is encoded and the ids decoded
// whole and streamed; then the text's bytes, read as u16 ids, are decoded
// too (ids past the vocab must be refused with an Error).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "model/gguf.h"
#include "model/gguf_model.h"
#include "tests/fuzz/fuzz_util.h"
#include "tokenizer/llama2c_vocab.h"
#include "tokenizer/stream_decoder.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/mapped_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cascade;
  fuzz::quiet();
  fuzz::Input in(data, size);
  const uint8_t flags = in.take<uint8_t>();
  const int vocab_size = in.take<uint16_t>();
  const std::string vocab_bytes = in.take_string();
  const std::string text = in.rest();
  Vocab v;
  try {
    if (flags & 1) {
      GgufFile f = GgufFile::parse(
          MappedFile::from_bytes("fuzz.gguf", std::vector<uint8_t>(vocab_bytes.begin(), vocab_bytes.end())));
      if (!load_gguf_vocab(f, v)) return 0;
    } else {
      v = parse_llama2c_vocab(vocab_bytes, "fuzz.bin", vocab_size);
    }
  } catch (const Error&) {
    return 0;
  }
  try {
    const Tokenizer tok(std::move(v));
    const std::vector<int> ids = tok.encode(text, flags & 2, flags & 4);
    for (int id : ids)
      if (id < 0 || id >= tok.vocab_size()) __builtin_trap();  // encode made an id outside the vocab
    const std::string whole = tok.decode(ids);
    StreamDecoder stream(tok);
    std::string streamed;
    for (int id : ids) streamed += stream.push(id);
    streamed += stream.flush();
    if (streamed != whole) __builtin_trap();  // stream_decoder.h: the concatenation equals decode()
    (void)tok.find_piece(text);
    int prev = -1;
    for (size_t i = 0; i + 1 < text.size(); i += 2) {
      const int id = (uint8_t)text[i] | (uint8_t)text[i + 1] << 8;
      try {
        (void)tok.decode(prev, id);
        prev = id;
      } catch (const Error&) {
        if (id < tok.vocab_size()) __builtin_trap();  // a valid id must decode
      }
    }
  } catch (const Error&) {
  }
  return 0;
}
