#include "model/loader.h"

#include <cstring>
#include <filesystem>
#include <fstream>

#include "model/gguf_model.h"
#include "model/llama2c.h"
#include "tokenizer/llama2c_vocab.h"
#include "util/error.h"

namespace cascade {

namespace {

// llama2.c keeps the tokenizer in a separate file; look beside the model.
std::string find_llama2c_tokenizer(const std::string& model_path, int vocab_size) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(model_path).parent_path();
  for (const std::string name : {"tok" + std::to_string(vocab_size) + ".bin", std::string("tokenizer.bin")}) {
    fs::path p = dir / name;
    if (fs::exists(p)) return p.string();
  }
  return "";
}

}  // namespace

LoadedModel load_model(const std::string& path, const LoadOptions& opts) {
  char magic[4] = {0, 0, 0, 0};
  {
    std::ifstream f(path, std::ios::binary);
    check(f.good(), "cannot open model '" + path + "': no such file or not readable");
    check(!std::filesystem::is_directory(path), "model path '" + path + "' is a directory, not a file");
    f.read(magic, 4);
  }
  LoadedModel out;
  if (std::memcmp(magic, "GGUF", 4) == 0) {
    Vocab v;
    load_gguf_model(path, out.model, v, opts.require_tokenizer, opts.keep_quantized);
    if (!v.tokens.empty()) out.vocab = std::move(v);
    if (!opts.map_weights) {
      out.model.copy_weights_to_huge_pages();
      out.model.pack_weights();
    }
    return out;
  }
  if (!looks_like_llama2c(path))
    throw Error("'" + path + "' is neither a GGUF file (no 'GGUF' magic) nor a llama2.c checkpoint; "
                "pass a .gguf or a llama2.c .bin model");
  load_llama2c_model(path, out.model);
  if (!opts.map_weights) {
    out.model.copy_weights_to_huge_pages();
    out.model.pack_weights();
  }
  std::string tok = opts.tokenizer_path.empty()
                        ? find_llama2c_tokenizer(path, out.model.cfg.vocab_size)
                        : opts.tokenizer_path;
  if (tok.empty()) {
    check(!opts.require_tokenizer,
          "no tokenizer for llama2.c model '" + path + "': put tokenizer.bin beside it or pass "
          "--tokenizer PATH");
    return out;
  }
  out.vocab = read_llama2c_vocab(tok, out.model.cfg.vocab_size);
  return out;
}

}  // namespace cascade
