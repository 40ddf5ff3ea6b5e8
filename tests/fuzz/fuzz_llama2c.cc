// Fuzz target: the llama2.c checkpoint loader.
//
// Input: a whole .bin checkpoint, through looks_like_llama2c and
// load_llama2c_model (what load_model does for a non-GGUF file), from an
// exact-size heap copy so that ASan sees a read past the end.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "model/llama2c.h"
#include "tests/fuzz/fuzz_util.h"
#include "util/error.h"
#include "util/mapped_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cascade;
  fuzz::quiet();
  auto file = MappedFile::from_bytes("fuzz.bin", std::vector<uint8_t>(data, data + size));
  (void)looks_like_llama2c(*file);
  try {
    Model m;
    load_llama2c_model(file, m);
  } catch (const Error&) {
  }
  return 0;
}
