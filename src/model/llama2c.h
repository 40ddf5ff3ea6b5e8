// Loader for llama2.c checkpoints (legacy "version 0" .bin files).
//
// Layout: 7 int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads,
// vocab_size, seq_len), then fp32 tensors back to back, each [out][in].
// A negative vocab_size means the classifier is stored separately at the end.
#pragma once

#include <memory>
#include <string>

#include "model/model.h"
#include "util/mapped_file.h"

namespace cascade {

// Maps `path` and points `out`'s weights into it. Throws Error with one line
// on a truncated file or an absurd header.
void load_llama2c_model(const std::string& path, Model& out);
// The same from an opened file (MappedFile::from_bytes for fuzzers); errors
// name file->path().
void load_llama2c_model(std::shared_ptr<MappedFile> file, Model& out);

// True when the file starts like a llama2.c checkpoint (sane header fields).
bool looks_like_llama2c(const std::string& path);
bool looks_like_llama2c(const MappedFile& file);

}  // namespace cascade
