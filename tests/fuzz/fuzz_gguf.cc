// Fuzz target: the GGUF reader and the model loader on top of it.
//
// Input: a whole GGUF file. It goes through GgufFile::parse (the parser
// GgufFile::open runs on a mapped file, here on an exact-size heap copy so
// that ASan sees a read past the end), the typed getters, load_gguf_model
// (both the dequantizing and the keep-quantized path), and, when the file
// carries a tokenizer, Tokenizer's validation and one encode/decode.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "model/gguf.h"
#include "model/gguf_model.h"
#include "tests/fuzz/fuzz_util.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace {

using namespace cascade;

void read_keys(const GgufFile& f) {
  for (const std::string& k : f.keys()) {
    const GgufValue* v = f.find(k);
    if (!v) continue;
    try {
      switch (v->type) {
        case GgufValueType::kString: (void)f.get_string(k); break;
        case GgufValueType::kF32:
        case GgufValueType::kF64: (void)f.get_f32(k); break;
        case GgufValueType::kBool: (void)f.get_bool(k); break;
        case GgufValueType::kArray:
          if (v->elem_type == GgufValueType::kString) (void)f.get_string_array(k);
          else (void)f.get_f32_array(k), (void)f.get_i32_array(k);
          break;
        default: (void)f.get_u32(k), (void)f.get_i32(k);
      }
    } catch (const Error&) {
    }
  }
}

void load(const GgufFile& f, bool keep_quantized) {
  Model m;
  Vocab v;
  try {
    load_gguf_model(f, m, v, /*require_tokenizer=*/false, keep_quantized);
  } catch (const Error&) {
    return;
  }
  if (v.tokens.empty() || keep_quantized) return;
  try {
    Tokenizer tok(std::move(v));
    (void)tok.decode(tok.encode("Hello, world! 123", true));
  } catch (const Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cascade::fuzz::quiet();
  auto file = MappedFile::from_bytes("fuzz.gguf", std::vector<uint8_t>(data, data + size));
  try {
    GgufFile f = GgufFile::parse(file);
    read_keys(f);
    for (const GgufTensor& t : f.tensors()) (void)t.shape_string();
    load(f, false);
    load(f, true);
  } catch (const Error&) {
  }
  return 0;
}
