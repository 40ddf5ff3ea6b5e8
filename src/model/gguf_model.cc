#include "model/gguf_model.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <memory>

#include "tokenizer/pretokenizer.h"
#include "util/error.h"
#include "util/mapped_file.h"
#include "util/sha256.h"

namespace cascade {

float llama3_rope_divisor(const ModelConfig& c, int i) {
  // Meta's apply_scaling(): long wavelengths are slowed by `factor`, short
  // ones kept, the band between interpolated smoothly.
  double freq = std::pow(static_cast<double>(c.rope_theta), -2.0 * i / c.head_dim);
  double wavelen = 2.0 * M_PI / freq;
  double low_wavelen = c.rope_original_context / c.rope_low_freq_factor;
  double high_wavelen = c.rope_original_context / c.rope_high_freq_factor;
  if (wavelen < high_wavelen) return 1.0f;
  if (wavelen > low_wavelen) return c.rope_scale_factor;
  double smooth = (c.rope_original_context / wavelen - c.rope_low_freq_factor) /
                  (c.rope_high_freq_factor - c.rope_low_freq_factor);
  return static_cast<float>(1.0 / ((1.0 - smooth) / c.rope_scale_factor + smooth));
}

bool load_gguf_vocab(const GgufFile& f, Vocab& v) {
  v = Vocab{};
  if (!f.has("tokenizer.ggml.tokens")) return false;
  auto fail = [&](const std::string& msg) {
    throw Error("GGUF file '" + f.path() + "' tokenizer " + msg);
  };
  std::string model = f.get_string("tokenizer.ggml.model", "");
  if (model == "llama") v.kind = VocabKind::kSentencePiece;
  else if (model == "gpt2") v.kind = VocabKind::kGPT2BPE;
  else
    fail("model '" + model + "' (tokenizer.ggml.model) is not supported; supported: llama, gpt2");
  bool sp = v.kind == VocabKind::kSentencePiece;

  v.tokens = f.get_string_array("tokenizer.ggml.tokens");
  if (v.tokens.empty()) fail("has no tokens");
  size_t n = v.tokens.size();
  if (f.has("tokenizer.ggml.scores")) v.scores = f.get_f32_array("tokenizer.ggml.scores");
  if (f.has("tokenizer.ggml.token_type")) v.token_types = f.get_i32_array("tokenizer.ggml.token_type");
  if (f.has("tokenizer.ggml.merges")) v.merges = f.get_string_array("tokenizer.ggml.merges");
  if (!v.scores.empty() && v.scores.size() != n)
    fail("has " + std::to_string(v.scores.size()) + " scores for " + std::to_string(n) + " tokens; the file is corrupt");
  if (!v.token_types.empty() && v.token_types.size() != n)
    fail("has " + std::to_string(v.token_types.size()) + " token types for " + std::to_string(n) +
         " tokens; the file is corrupt");
  if (!sp && v.merges.empty()) fail("is gpt2 BPE but has no tokenizer.ggml.merges; the file is corrupt");
  v.pre = f.get_string("tokenizer.ggml.pre", "");

  // 0xFFFFFFFF is llama.cpp's "no such token".
  auto id = [&](const char* key) -> int {
    auto x = f.opt_u32(key);
    if (!x || *x == 0xFFFFFFFFu) return -1;
    if (*x >= n)
      fail(std::string(key) + " = " + std::to_string(*x) + " is not a token id (vocab has " +
           std::to_string(n) + "); the file is corrupt");
    return static_cast<int>(*x);
  };
  v.bos_id = id("tokenizer.ggml.bos_token_id");
  v.eos_id = id("tokenizer.ggml.eos_token_id");
  v.unk_id = id("tokenizer.ggml.unknown_token_id");
  // Defaults are llama.cpp's: SentencePiece adds BOS and the " " dummy
  // prefix; BPE adds BOS only for the pre-tokenizers that imply it (Llama 3,
  // tekken). The pre-tokenizer must be one Cascade implements.
  bool bpe_bos = false;
  if (!sp) {
    try {
      bpe_bos = pre_tokenizer_from_name(v.pre).add_bos;
    } catch (const Error& e) {
      fail(std::string(e.what()).substr(std::string("tokenizer: ").size()));
    }
  }
  v.add_bos = f.get_bool("tokenizer.ggml.add_bos_token", sp || bpe_bos);
  v.add_eos = f.get_bool("tokenizer.ggml.add_eos_token", false);
  v.add_space_prefix = f.get_bool("tokenizer.ggml.add_space_prefix", sp);
  for (const auto& t : v.tokens) v.max_token_length = std::max<int>(v.max_token_length, t.size());
  return true;
}

namespace {

class Loader {
 public:
  Loader(const GgufFile& f, Model& m, bool keep_quantized) : f_(f), m_(m), keep_quantized_(keep_quantized) {}

  [[noreturn]] void fail(const std::string& msg) const {
    throw Error("GGUF model '" + f_.path() + "' " + msg);
  }

  int int_key(const std::string& key) const { return clamp(f_.get_u32(key)); }
  int int_key(const std::string& key, int def) const { return clamp(f_.get_u32(key, static_cast<uint32_t>(def))); }
  static int clamp(uint32_t v) { return static_cast<int>(std::min<uint32_t>(v, INT_MAX)); }

  void tensor_shape_ok(const GgufTensor& t, const std::string& name, const std::vector<uint64_t>& ne) const {
    bool same = t.n_dims == static_cast<int>(ne.size());
    for (size_t d = 0; same && d < ne.size(); ++d) same = t.ne[d] == ne[d];
    if (!same) {
      std::string want = "[";
      for (size_t d = 0; d < ne.size(); ++d) want += (d ? ", " : "") + std::to_string(ne[d]);
      fail("tensor '" + name + "' has shape " + t.shape_string() + " but the hyper-parameters need " +
           want + "]; the file is corrupt or mis-converted");
    }
  }

  // The tensor `name` with GGUF shape `ne`, as fp32. Null when absent and
  // not required.
  const float* tensor(const std::string& name, std::vector<uint64_t> ne, bool required = true) {
    const GgufTensor* t = f_.find_tensor(name);
    if (!t) {
      if (required) fail("is missing tensor '" + name + "'; the file is incomplete or not a supported model");
      return nullptr;
    }
    tensor_shape_ok(*t, name, ne);
    // F32 used in place when float-aligned (always, with GGUF's alignment >= 4).
    if (t->type == GgmlType::kF32 && reinterpret_cast<uintptr_t>(t->data) % alignof(float) == 0)
      return reinterpret_cast<const float*>(t->data);
    std::vector<float> buf(t->n_elements);
    dequantize(t->type, t->data, t->n_elements, buf.data());
    return m_.own(std::move(buf));
  }

  // A weight matrix `name` of GGUF shape ne = {in, out}: fp32 as tensor()
  // gives it, or, when keeping quantized and the tensor is block-quantized,
  // null with *q set to a view of its rows in the mapped file.
  const float* matrix(const std::string& name, std::vector<uint64_t> ne, QuantMatrix* q, bool required = true) {
    const GgufTensor* t = f_.find_tensor(name);
    if (!keep_quantized_ || !t || ggml_block_size(t->type) == 1) return tensor(name, std::move(ne), required);
    tensor_shape_ok(*t, name, ne);
    q->type = static_cast<uint32_t>(t->type);
    q->data = t->data;
    q->row_bytes = ggml_nbytes(t->type, t->ne[0]);
    return nullptr;
  }

  void load(bool require_tokenizer, Vocab& vocab) {
    std::string arch = f_.get_string("general.architecture");
    if (arch == "gpt2") load_gpt2();
    else if (arch == "llama" || arch == "mistral" || arch == "qwen2") load_llama(arch);
    else
      fail("has architecture '" + arch + "', which Cascade does not support (supported: llama, mistral, qwen2, gpt2)");
    validate_weights(m_);

    bool has_tok = load_gguf_vocab(f_, vocab);
    if (!has_tok && require_tokenizer)
      fail("has no tokenizer (tokenizer.ggml.tokens); convert the model with its tokenizer, or copy one in "
           "(e.g. synthesize with tokenizer_from)");
    if (has_tok && static_cast<int>(vocab.tokens.size()) > m_.cfg.vocab_size)
      fail("tokenizer has " + std::to_string(vocab.tokens.size()) + " tokens but the embedding only " +
           std::to_string(m_.cfg.vocab_size) + " rows; the file is corrupt");
  }

 private:
  int vocab_from_embedding() {
    const GgufTensor* t = f_.find_tensor("token_embd.weight");
    if (!t) fail("is missing tensor 'token_embd.weight'; the file is incomplete or not a supported model");
    if (t->n_dims != 2) fail("tensor 'token_embd.weight' has shape " + t->shape_string() + ", expected 2 dimensions");
    return clamp(static_cast<uint32_t>(std::min<uint64_t>(t->ne[1], UINT32_MAX)));
  }

  void rope_scaling(const std::string& a) {
    ModelConfig& c = m_.cfg;
    std::string type = f_.get_string(a + "rope.scaling.type", "");
    auto factor = f_.opt_f32(a + "rope.scaling.factor");
    if (!type.empty() && type != "llama3" && type != "none")
      fail("uses rope scaling type '" + type + "', which Cascade does not support (only llama3)");
    if (type == "llama3" || (type.empty() && factor && f_.has(a + "rope.scaling.low_freq_factor"))) {
      if (!factor) fail("has llama3 rope scaling without " + a + "rope.scaling.factor; the file is corrupt");
      c.rope_scale_factor = *factor;
      c.rope_low_freq_factor = f_.get_f32(a + "rope.scaling.low_freq_factor", 1.0f);
      c.rope_high_freq_factor = f_.get_f32(a + "rope.scaling.high_freq_factor", 4.0f);
      c.rope_original_context = int_key(a + "rope.scaling.original_context_length", 8192);
      if (!(c.rope_scale_factor >= 1.0f) || !(c.rope_high_freq_factor > c.rope_low_freq_factor) ||
          !(c.rope_low_freq_factor > 0.0f) || c.rope_original_context <= 0)
        fail("has invalid llama3 rope scaling parameters; the file is corrupt");
    }
    const GgufTensor* rf = f_.find_tensor("rope_freqs.weight");
    if (!rf) return;
    int half = c.head_dim / 2;
    const float* divs = tensor("rope_freqs.weight", {static_cast<uint64_t>(half)});
    if (c.rope_scale_factor == 0.0f) {
      // llama.cpp's layout: parameters not stored; assume Meta's defaults.
      c.rope_scale_factor = *std::max_element(divs, divs + half);
      c.rope_low_freq_factor = 1.0f;
      c.rope_high_freq_factor = 4.0f;
      c.rope_original_context = int_key(a + "rope.scaling.original_context_length", 8192);
    }
    // A factor of 1 makes every divisor 1: an all-ones table, i.e. no scaling.
    for (int i = 0; i < half; ++i)
      if (std::fabs(divs[i] - llama3_rope_divisor(c, i)) > 1e-3f * std::max(1.0f, divs[i]))
        fail("has a rope_freqs.weight table that is not llama3 scaling with factor " +
             std::to_string(c.rope_scale_factor) + ", low " + std::to_string(c.rope_low_freq_factor) +
             ", high " + std::to_string(c.rope_high_freq_factor) +
             "; Cascade cannot run this rope variant");
    if (c.rope_scale_factor == 1.0f) c.rope_scale_factor = 0.0f;
  }

  void load_llama(const std::string& arch) {
    ModelConfig& c = m_.cfg;
    std::string a = arch + ".";
    c.arch = Arch::kLlama;
    c.rope_style = arch == "qwen2" ? RopeStyle::kNeoX : RopeStyle::kAdjacent;
    c.n_layers = int_key(a + "block_count");
    c.dim = int_key(a + "embedding_length");
    c.hidden_dim = int_key(a + "feed_forward_length");
    c.n_heads = int_key(a + "attention.head_count");
    c.n_kv_heads = int_key(a + "attention.head_count_kv", c.n_heads);
    c.context_length = int_key(a + "context_length");
    c.rope_theta = f_.get_f32(a + "rope.freq_base", 10000.0f);
    c.norm_eps = f_.get_f32(a + "attention.layer_norm_rms_epsilon");
    c.head_dim = c.n_heads > 0 ? int_key(a + "attention.key_length", c.dim / c.n_heads) : 0;
    c.vocab_size = vocab_from_embedding();
    validate_config(c);
    if (auto rd = f_.opt_u32(a + "rope.dimension_count"); rd && static_cast<int>(*rd) != c.head_dim)
      fail("rotates " + std::to_string(*rd) + " of " + std::to_string(c.head_dim) +
           " head dimensions (partial RoPE), which Cascade does not support");
    rope_scaling(a);

    uint64_t d = c.dim, q = c.q_dim(), kv = c.kv_dim(), h = c.hidden_dim, V = c.vocab_size;
    m_.token_embd = matrix("token_embd.weight", {d, V}, &m_.token_embd_q);
    m_.out_norm = tensor("output_norm.weight", {d});
    m_.lm_head = matrix("output.weight", {d, V}, &m_.lm_head_q, false);
    if (!m_.lm_head && !m_.lm_head_q) {  // tied classifier
      m_.lm_head = m_.token_embd;
      m_.lm_head_q = m_.token_embd_q;
    }
    m_.layers.resize(c.n_layers);
    bool need_bias = arch == "qwen2";
    for (int i = 0; i < c.n_layers; ++i) {
      std::string b = "blk." + std::to_string(i) + ".";
      LayerWeights& l = m_.layers[i];
      l.attn_norm = tensor(b + "attn_norm.weight", {d});
      l.wq = matrix(b + "attn_q.weight", {d, q}, &l.wq_q);
      l.wk = matrix(b + "attn_k.weight", {d, kv}, &l.wk_q);
      l.wv = matrix(b + "attn_v.weight", {d, kv}, &l.wv_q);
      l.bq = tensor(b + "attn_q.bias", {q}, need_bias);
      l.bk = tensor(b + "attn_k.bias", {kv}, need_bias);
      l.bv = tensor(b + "attn_v.bias", {kv}, need_bias);
      l.wo = matrix(b + "attn_output.weight", {q, d}, &l.wo_q);
      l.ffn_norm = tensor(b + "ffn_norm.weight", {d});
      l.w_gate = matrix(b + "ffn_gate.weight", {d, h}, &l.w_gate_q);
      l.w_up = matrix(b + "ffn_up.weight", {d, h}, &l.w_up_q);
      l.w_down = matrix(b + "ffn_down.weight", {h, d}, &l.w_down_q);
    }
  }

  void load_gpt2() {
    ModelConfig& c = m_.cfg;
    c.arch = Arch::kGPT2;
    c.rope_style = RopeStyle::kNone;
    c.n_layers = int_key("gpt2.block_count");
    c.dim = int_key("gpt2.embedding_length");
    c.hidden_dim = int_key("gpt2.feed_forward_length");
    c.n_heads = int_key("gpt2.attention.head_count");
    c.n_kv_heads = c.n_heads;
    c.head_dim = c.n_heads > 0 ? c.dim / c.n_heads : 0;
    c.context_length = int_key("gpt2.context_length");
    c.norm_eps = f_.get_f32("gpt2.attention.layer_norm_epsilon");
    c.vocab_size = vocab_from_embedding();
    validate_config(c);
    if (c.head_dim * c.n_heads != c.dim)
      fail("has embedding_length " + std::to_string(c.dim) + " not divisible by head_count " +
           std::to_string(c.n_heads) + "; the file is corrupt");

    uint64_t d = c.dim, h = c.hidden_dim, V = c.vocab_size, T = c.context_length;
    m_.token_embd = matrix("token_embd.weight", {d, V}, &m_.token_embd_q);
    m_.pos_embd = tensor("position_embd.weight", {d, T});
    m_.out_norm = tensor("output_norm.weight", {d});
    m_.out_norm_b = tensor("output_norm.bias", {d});
    m_.lm_head = matrix("output.weight", {d, V}, &m_.lm_head_q, false);
    if (!m_.lm_head && !m_.lm_head_q) {
      m_.lm_head = m_.token_embd;
      m_.lm_head_q = m_.token_embd_q;
    }
    m_.layers.resize(c.n_layers);
    for (int i = 0; i < c.n_layers; ++i) {
      std::string b = "blk." + std::to_string(i) + ".";
      LayerWeights& l = m_.layers[i];
      l.attn_norm = tensor(b + "attn_norm.weight", {d});
      l.attn_norm_b = tensor(b + "attn_norm.bias", {d});
      // Fused [3d][d]: rows 0..d-1 are Q, then K, then V.
      QuantMatrix qkv_q;
      const float* qkv = matrix(b + "attn_qkv.weight", {d, 3 * d}, &qkv_q);
      if (qkv) {
        l.wq = qkv;
        l.wk = qkv + d * d;
        l.wv = qkv + 2 * d * d;
      } else {
        l.wq_q = l.wk_q = l.wv_q = qkv_q;
        l.wk_q.data = qkv_q.row(d);
        l.wv_q.data = qkv_q.row(2 * d);
      }
      const float* qkv_b = tensor(b + "attn_qkv.bias", {3 * d});
      l.bq = qkv_b;
      l.bk = qkv_b + d;
      l.bv = qkv_b + 2 * d;
      l.wo = matrix(b + "attn_output.weight", {d, d}, &l.wo_q);
      l.bo = tensor(b + "attn_output.bias", {d});
      l.ffn_norm = tensor(b + "ffn_norm.weight", {d});
      l.ffn_norm_b = tensor(b + "ffn_norm.bias", {d});
      l.w_up = matrix(b + "ffn_up.weight", {d, h}, &l.w_up_q);
      l.b_up = tensor(b + "ffn_up.bias", {h});
      l.w_down = matrix(b + "ffn_down.weight", {h, d}, &l.w_down_q);
      l.b_down = tensor(b + "ffn_down.bias", {d});
    }
  }

  const GgufFile& f_;
  Model& m_;
  bool keep_quantized_;
};

}  // namespace

void load_gguf_model(const std::string& path, Model& out, Vocab& vocab, bool require_tokenizer,
                     bool keep_quantized) {
  load_gguf_model(GgufFile::open(path), out, vocab, require_tokenizer, keep_quantized);
}

void load_gguf_model(const GgufFile& f, Model& out, Vocab& vocab, bool require_tokenizer, bool keep_quantized) {
  // Build into locals so that a failed load leaves the caller's objects untouched.
  Model m;
  Vocab v;
  m.file = f.file();
  Loader(f, m, keep_quantized).load(require_tokenizer, v);
  m.file_sha256 = sha256_hex(f.file()->data(), f.file()->size());
  out = std::move(m);
  vocab = std::move(v);
}

}  // namespace cascade
