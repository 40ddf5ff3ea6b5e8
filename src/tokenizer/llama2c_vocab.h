// read_llama2c_vocab — loads a llama2.c `tokenizer.bin` into a Vocab.
//
// File layout (little-endian, as llama2.c's tokenizer.py writes it):
//   uint32 max_token_length
//   then, for each id 0..vocab_size-1:  float32 score, int32 len, len bytes
// Pieces use a plain space where SentencePiece uses U+2581, id 0 is <unk>,
// id 1 is "\n<s>\n" (BOS), id 2 is "\n</s>\n" (EOS), ids 3..258 are the
// byte-fallback pieces "<0x00>".."<0xFF>".
#pragma once

#include <string>

#include "tokenizer/vocab.h"

namespace cascade {

// Reads exactly `vocab_size` pieces from `path` (the model header supplies the
// count; the file does not store it). Returns a Vocab with kind kLlama2c,
// bos 1, eos 2, unk 0, add_bos and add_space_prefix set, token_types filled
// (unknown / control / byte / normal as above) and max_token_length from the
// header.
//
// Throws cascade::Error (one line naming the file) when the file cannot be
// read, is truncated, has a negative or oversized piece length, a non-finite
// score, or holds more or fewer pieces than `vocab_size`.
Vocab read_llama2c_vocab(const std::string& path, int vocab_size);
// The same for the file's bytes, already read; `path` only names it in errors.
Vocab parse_llama2c_vocab(const std::string& bytes, const std::string& path, int vocab_size);

}  // namespace cascade
