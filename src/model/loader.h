// load_model — open any supported model file (GGUF or llama2.c .bin).
#pragma once

#include <optional>
#include <string>

#include "model/model.h"
#include "tokenizer/vocab.h"

namespace cascade {

struct LoadOptions {
  // llama2.c tokenizer.bin for a .bin checkpoint; when empty, tokenizer.bin
  // or tok<vocab>.bin beside the model is used.
  std::string tokenizer_path;
  // When false a model without a tokenizer loads (vocab stays empty).
  bool require_tokenizer = true;
  // Keep F32 weights mapped from the file (shared between processes, no
  // copy) instead of copying them into huge pages (faster decode).
  bool map_weights = true;
  // Keep block-quantized GGUF matrices (Q4_0..Q8_0, Q2_K..Q6_K) in the file's
  // format in memory, mapped, and dequantize them inside the matrix products
  // (engine/quant_matmul.h) instead of expanding them to fp32 at load.
  bool keep_quantized = false;
};

struct LoadedModel {
  Model model;
  std::optional<Vocab> vocab;
};

// Detects the format by its first bytes. Throws Error with one line (what is
// wrong, what to do) on anything it cannot load.
LoadedModel load_model(const std::string& path, const LoadOptions& opts = {});

}  // namespace cascade
