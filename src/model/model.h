// Model — hyper-parameters and fp32 weights of a decoder-only transformer.
//
// Every loader (GGUF, llama2.c) produces this one struct; every kernel,
// engine and node reads it. Weights are fp32, row-major, and every matrix is
// stored [out][in], so a projection is y = W·x (GGUF's ne[0] is the inner,
// `in`, dimension; llama2.c stores the same layout). F32 tensors point into
// the memory-mapped file; other types are dequantized into `owned`, or, for
// block-quantized matrices loaded with keep_quantized, stay in the mapped
// file as QuantMatrix views.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/model_fields.h"

namespace cascade {

class MappedFile;

// Append-only: values are written into plans and wire messages.
enum class Arch : int32_t {
  kLlama = 0,  // RMSNorm, RoPE, (GQA), SwiGLU; also Mistral, Qwen2, SmolLM
  kGPT2 = 1,   // LayerNorm with bias, learned positions, GELU MLP, biases
};

enum class RopeStyle : int32_t {
  kNone = 0,      // no rotary embedding (GPT-2)
  kAdjacent = 1,  // rotate pairs (2i, 2i+1): llama2.c, GGUF `llama`
  kNeoX = 2,      // rotate pairs (i, i + head_dim/2): Qwen2, GPT-NeoX
};

// The hyper-parameters; its fields are declared by CASCADE_MODEL_FIELDS
// (model_fields.h), which says what each one is.
struct ModelConfig {
#define CASCADE_MODEL_FIELD(type, name, def, doc) type name = def;
  CASCADE_MODEL_FIELDS(CASCADE_MODEL_FIELD)
#undef CASCADE_MODEL_FIELD

  int q_dim() const { return n_heads * head_dim; }
  int kv_dim() const { return n_kv_heads * head_dim; }
};

// A weight matrix kept in a ggml block format (quants.h) instead of fp32,
// when a model is loaded with LoadOptions::keep_quantized: `rows` rows of
// `row_bytes` bytes each (whole blocks), row r at data + r * row_bytes. The
// matching fp32 pointer is then null; engine/quant_matmul.h computes with it.
struct QuantMatrix {
  uint32_t type = 0;  // GgmlType value
  const uint8_t* data = nullptr;
  size_t row_bytes = 0;
  explicit operator bool() const { return data != nullptr; }
  const uint8_t* row(int64_t r) const { return data + r * row_bytes; }
};

// One transformer block. Pointers are fp32 and null when absent (biases of a
// Llama model, for instance). Shapes in [out][in] order.
struct LayerWeights {
  const float* attn_norm = nullptr;    // [dim]
  const float* attn_norm_b = nullptr;  // [dim] (LayerNorm only)
  const float* wq = nullptr;           // [q_dim][dim]
  const float* wk = nullptr;           // [kv_dim][dim]
  const float* wv = nullptr;           // [kv_dim][dim]
  const float* bq = nullptr;           // [q_dim]   (Qwen2, GPT-2)
  const float* bk = nullptr;           // [kv_dim]
  const float* bv = nullptr;           // [kv_dim]
  const float* wo = nullptr;           // [dim][q_dim]
  const float* bo = nullptr;           // [dim]
  const float* ffn_norm = nullptr;     // [dim]
  const float* ffn_norm_b = nullptr;   // [dim]
  const float* w_gate = nullptr;       // [hidden][dim] (SwiGLU only)
  const float* w_up = nullptr;         // [hidden][dim]
  const float* b_up = nullptr;         // [hidden]
  const float* w_down = nullptr;       // [dim][hidden]
  const float* b_down = nullptr;       // [dim]
  // The matrices above packed for the prefill GEMM (kernels.h, pack_panels)
  // by Model::pack_weights; null when not packed.
  const float *wq_panels = nullptr, *wk_panels = nullptr, *wv_panels = nullptr, *wo_panels = nullptr;
  const float *w_gate_panels = nullptr, *w_up_panels = nullptr, *w_down_panels = nullptr;
  // The matrices above kept quantized (their fp32 pointer is then null).
  QuantMatrix wq_q, wk_q, wv_q, wo_q, w_gate_q, w_up_q, w_down_q;
};

// Move-only: the weight pointers point into storage the Model owns (`owned`,
// the huge pages, the panels), so a copy would point into its original's.
struct Model {
  Model() = default;
  Model(Model&&) = default;
  Model& operator=(Model&&) = default;
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  ModelConfig cfg;
  const float* token_embd = nullptr;  // [vocab][dim]
  const float* pos_embd = nullptr;    // [context][dim] (GPT-2 only)
  std::vector<LayerWeights> layers;   // n_layers
  const float* out_norm = nullptr;    // [dim]
  const float* out_norm_b = nullptr;  // [dim] (LayerNorm only)
  const float* lm_head = nullptr;     // [vocab][dim]; == token_embd when tied
  // Embedding and LM head kept quantized (the fp32 pointer is then null).
  QuantMatrix token_embd_q, lm_head_q;

  // SHA-256 of the model file, hex; nodes use it to agree on the model.
  std::string file_sha256;

  // Keep-alive for the storage the pointers above point into.
  std::shared_ptr<MappedFile> file;
  std::vector<std::vector<float>> owned;
  std::shared_ptr<void> huge_pages;      // weights moved by copy_weights_to_huge_pages
  std::shared_ptr<void> panels_storage;  // the *_panels of pack_weights

  // Copies `n` floats into storage owned by the model and returns a pointer
  // that stays valid for the model's lifetime.
  const float* own(std::vector<float> data);

  // Number of weight parameters (embedding and head counted once if tied).
  int64_t n_params() const;

  // Copies every weight that still points into the mapped file into one
  // anonymous buffer backed by transparent huge pages, and releases the
  // mapping. Decode streams all weights per token, and 2 MiB pages spare it
  // the TLB misses of the page cache's 4 KiB pages (docs/results/
  // code_figures.md). Costs a copy of the weights in RAM.
  // Quantized matrices are not copied; the mapping is kept for them.
  void copy_weights_to_huge_pages();

  // Whether any matrix is kept quantized (QuantMatrix views into `file`).
  bool has_quantized() const;

  // Packs every block matrix whose output count is a multiple of kPanel
  // into panels for the prefill GEMM (the *_panels pointers), in one more
  // buffer of huge pages. A CompNode's GEMMs have few rows; OpenBLAS would
  // repack W for each of them, the panels are packed once (kernel_bench
  // BM_GemmPanels). Costs a second copy of the block weights in RAM; loaders
  // skip it with --mmap. Idempotent.
  void pack_weights();
};

// Throws Error when the configuration is inconsistent or absurd (zero or
// negative sizes, heads that do not divide, context too large, ...), naming
// the offending field. Loaders call it before touching tensor data.
void validate_config(const ModelConfig& cfg);

// Throws Error when a required weight pointer is missing for cfg.arch.
void validate_weights(const Model& m);

}  // namespace cascade
