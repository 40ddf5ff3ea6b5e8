#include "model/synth.h"

#include <cmath>

#include "tokenizer/utf8.h"
#include "util/error.h"

namespace cascade {

namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// How a tensor is initialised: constant `value` when std == 0, else uniform
// with that standard deviation (a uniform on [-a, a] has std a/sqrt(3)).
struct Init {
  float value = 0.0f;
  float std = 0.0f;
};

Init init_for(const SynthSpec& s, const std::string& name) {
  bool norm = name.find("norm") != std::string::npos;
  if (norm) return {ends_with(name, ".weight") ? 1.0f : 0.0f, 0.0f};
  if (ends_with(name, ".bias")) return {0.0f, 0.01f};
  if (name == "position_embd.weight") return {0.0f, 0.01f};
  // GPT-2's scheme: residual-output projections shrink with depth so the
  // residual stream's variance stays bounded however many layers there are.
  if (name.find("attn_output") != std::string::npos || name.find("ffn_down") != std::string::npos)
    return {0.0f, 0.02f / std::sqrt(2.0f * static_cast<float>(std::max(1, s.n_layers)))};
  return {0.0f, 0.02f};
}

// Made-up multi-character pieces over a..z, shortest first, each built from a
// shorter piece plus one letter that precede it in the list, so both
// SentencePiece (score) and BPE (merge) encoding can reach them:
// space+a.., then ab.., space+ab.., abc.., ... Calls emit(prefix, last_char)
// for each; stops when emit returns false.
template <typename Emit>
void made_up_pieces(const std::string& space, Emit emit) {
  for (int len = 1;; ++len) {
    for (int with_space = 1; with_space >= 0; --with_space) {
      if (!with_space && len < 2) continue;
      std::vector<int> digit(len, 0);
      for (;;) {
        std::string prefix = with_space ? space : "";
        for (int i = 0; i + 1 < len; ++i) prefix += static_cast<char>('a' + digit[i]);
        if (!emit(prefix, std::string(1, static_cast<char>('a' + digit[len - 1])))) return;
        int i = len - 1;
        while (i >= 0 && ++digit[i] == 26) digit[i--] = 0;
        if (i < 0) break;
      }
    }
  }
}

void validate_spec(const SynthSpec& s, int vocab_size) {
  check(s.head_dim == 0, "synth: head_dim follows from dim / n_heads; leave it 0");
  check(s.vocab_size == 0, "synth: vocab_size follows from the tokenizer; set vocab_size_if_no_tokenizer");
  check(s.rope_style == ModelConfig{}.rope_style, "synth: rope_style follows from arch; leave it at its default");
  validate_config(synth_config(s, vocab_size));
  check(s.dim % s.n_heads == 0, "synth: dim must be a multiple of n_heads");
  check(!s.q4_k_m || s.weight_type == GgmlType::kQ4_K, "synth: the Q4_K_M mix needs weight type Q4_K");
  const int block = std::min(ggml_block_size(s.weight_type), 32);  // K-quants fall back to 32-blocks
  const std::string type = ggml_type_name(static_cast<uint32_t>(s.weight_type));
  check(s.dim % block == 0 && s.hidden_dim % block == 0,
        "synth: " + type + " weights need dim and hidden_dim to be multiples of " + std::to_string(block));
}

// llama.cpp's use_more_bits(): the layers Q4_K_M gives Q6_K attn_v / ffn_down.
bool use_more_bits(int layer, int n_layers) {
  return layer < n_layers / 8 || layer >= 7 * n_layers / 8 || (layer - n_layers / 8) % 3 == 2;
}

// The type a weight matrix with rows of ne0 values gets (see SynthSpec).
GgmlType matrix_type(const SynthSpec& s, const std::string& name, uint64_t ne0) {
  GgmlType t = s.weight_type;
  if (s.q4_k_m) {
    const bool more = name == "output.weight" ||
                      ((name.find("attn_v.") != std::string::npos || name.find("ffn_down.") != std::string::npos) &&
                       use_more_bits(std::stoi(name.substr(4)), s.n_layers));
    if (more) t = GgmlType::kQ6_K;
  }
  if (ne0 % ggml_block_size(t) == 0) return t;
  switch (t) {
    case GgmlType::kQ2_K: case GgmlType::kQ3_K: return GgmlType::kQ4_0;
    case GgmlType::kQ4_K: return GgmlType::kQ5_0;
    case GgmlType::kQ5_K: return GgmlType::kQ5_1;
    case GgmlType::kQ6_K: return GgmlType::kQ8_0;
    default: return t;  // validate_spec has ruled this out
  }
}

int copy_tokenizer(const std::string& from, GgufWriter& w) {
  GgufFile src = GgufFile::open(from);
  if (!src.has("tokenizer.ggml.tokens"))
    throw Error("synth: '" + from + "' has no tokenizer (tokenizer.ggml.tokens) to copy; pass a GGUF with one");
  for (const auto& key : src.keys())
    if (key.rfind("tokenizer.ggml.", 0) == 0) w.set(key, *src.find(key));
  return static_cast<int>(src.get_string_array("tokenizer.ggml.tokens").size());
}

}  // namespace

ModelConfig synth_config(const SynthSpec& s, int vocab_size) {
  ModelConfig c = s;
  if (s.arch == Arch::kGPT2) c.n_kv_heads = s.n_heads;
  c.head_dim = s.n_heads > 0 ? s.dim / s.n_heads : 0;
  c.vocab_size = vocab_size;
  c.rope_style = s.arch == Arch::kGPT2 ? RopeStyle::kNone : RopeStyle::kAdjacent;
  return c;
}

std::vector<std::string> synth_preset_names() {
  return {"tiny-llama", "tiny-gpt2", "llama-100m", "llama-3.2-1b", "gpt2-small"};
}

SynthSpec synth_preset(const std::string& name) {
  SynthSpec s;
  if (name == "tiny-llama") {
    s.arch = Arch::kLlama;
    s.dim = 64, s.hidden_dim = 128, s.n_layers = 2, s.n_heads = 4, s.n_kv_heads = 2;
    s.context_length = 128, s.vocab_size_if_no_tokenizer = 320;
  } else if (name == "tiny-gpt2") {
    s.arch = Arch::kGPT2;
    s.dim = 64, s.hidden_dim = 256, s.n_layers = 2, s.n_heads = 4, s.n_kv_heads = 4;
    s.context_length = 128, s.vocab_size_if_no_tokenizer = 300, s.tied_embeddings = true;
  } else if (name == "llama-100m") {
    s.arch = Arch::kLlama;
    s.dim = 768, s.hidden_dim = 2048, s.n_layers = 12, s.n_heads = 12, s.n_kv_heads = 4;
    s.context_length = 2048, s.vocab_size_if_no_tokenizer = 32000;
  } else if (name == "llama-3.2-1b") {
    s.arch = Arch::kLlama;
    s.dim = 2048, s.hidden_dim = 8192, s.n_layers = 16, s.n_heads = 32, s.n_kv_heads = 8;
    s.context_length = 131072, s.vocab_size_if_no_tokenizer = 128256, s.rope_theta = 500000.0f;
    s.rope_scale_factor = 32.0f, s.rope_low_freq_factor = 1.0f, s.rope_high_freq_factor = 4.0f;
    s.rope_original_context = 8192, s.tied_embeddings = true;
  } else if (name == "gpt2-small") {
    s.arch = Arch::kGPT2;
    s.dim = 768, s.hidden_dim = 3072, s.n_layers = 12, s.n_heads = 12, s.n_kv_heads = 12;
    s.context_length = 1024, s.vocab_size_if_no_tokenizer = 50257, s.tied_embeddings = true;
  } else {
    std::string known;
    for (const auto& n : synth_preset_names()) known += (known.empty() ? "" : ", ") + n;
    throw Error("unknown synth preset '" + name + "'; known presets: " + known);
  }
  return s;
}

std::vector<SynthTensor> synth_tensor_list(const SynthSpec& s, int vocab_size) {
  uint64_t d = s.dim, h = s.hidden_dim, V = vocab_size, T = s.context_length;
  uint64_t hd = s.dim / s.n_heads, q = s.n_heads * hd, kv = s.n_kv_heads * hd;
  GgmlType f32 = GgmlType::kF32;
  std::vector<SynthTensor> t;
  const GgmlType wt = s.weight_type;
  // A weight matrix's final type depends on its name and row length.
  const auto push = [&](SynthTensor x) {
    if (x.type == wt) x.type = matrix_type(s, x.name, x.ne[0]);
    t.push_back(std::move(x));
  };
  bool gpt2 = s.arch == Arch::kGPT2;
  push({"token_embd.weight", {d, V}, wt});
  if (gpt2) push({"position_embd.weight", {d, T}, f32});
  push({"output_norm.weight", {d}, f32});
  if (gpt2) push({"output_norm.bias", {d}, f32});
  if (!s.tied_embeddings) push({"output.weight", {d, V}, wt});
  for (int i = 0; i < s.n_layers; ++i) {
    std::string b = "blk." + std::to_string(i) + ".";
    if (gpt2) {
      push({b + "attn_norm.weight", {d}, f32});
      push({b + "attn_norm.bias", {d}, f32});
      push({b + "attn_qkv.weight", {d, 3 * d}, wt});
      push({b + "attn_qkv.bias", {3 * d}, f32});
      push({b + "attn_output.weight", {d, d}, wt});
      push({b + "attn_output.bias", {d}, f32});
      push({b + "ffn_norm.weight", {d}, f32});
      push({b + "ffn_norm.bias", {d}, f32});
      push({b + "ffn_up.weight", {d, h}, wt});
      push({b + "ffn_up.bias", {h}, f32});
      push({b + "ffn_down.weight", {h, d}, wt});
      push({b + "ffn_down.bias", {d}, f32});
    } else {
      push({b + "attn_norm.weight", {d}, f32});
      push({b + "attn_q.weight", {d, q}, wt});
      push({b + "attn_k.weight", {d, kv}, wt});
      push({b + "attn_v.weight", {d, kv}, wt});
      push({b + "attn_output.weight", {q, d}, wt});
      push({b + "ffn_norm.weight", {d}, f32});
      push({b + "ffn_gate.weight", {d, h}, wt});
      push({b + "ffn_up.weight", {d, h}, wt});
      push({b + "ffn_down.weight", {h, d}, wt});
    }
  }
  return t;
}

void synth_tensor_values(const SynthSpec& s, const std::string& name, uint64_t begin, uint64_t count,
                         float* out) {
  Init init = init_for(s, name);
  if (init.std == 0.0f) {
    std::fill(out, out + count, init.value);
    return;
  }
  float a = init.std * std::sqrt(3.0f);
  uint64_t key = splitmix64(s.seed ^ fnv1a(name));
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t r = splitmix64(key + (begin + i) * 0x9e3779b97f4a7c15ull);
    float u = static_cast<float>(r >> 40) * (1.0f / 16777216.0f);  // [0, 1), 24 bits
    out[i] = (2.0f * u - 1.0f) * a;
  }
}

void synth_sentencepiece_vocab(int size, GgufWriter& w) {
  check(size >= 259, "synth: a SentencePiece vocab needs at least 259 tokens (3 special + 256 bytes)");
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  std::vector<float> scores(3, 0.0f);
  std::vector<int32_t> types = {2, 3, 3};
  static const char* hex = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b) {
    tokens.push_back(std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">");
    scores.push_back(0.0f);
    types.push_back(6);
  }
  auto add = [&](const std::string& piece) {
    if (static_cast<int>(tokens.size()) >= size) return false;
    scores.push_back(-static_cast<float>(tokens.size() - 259));  // earlier pieces merge first
    tokens.push_back(piece);
    types.push_back(1);
    return true;
  };
  const std::string space = "\xE2\x96\x81";  // U+2581, SentencePiece's space
  add(space);
  for (char c = 'a'; c <= 'z'; ++c) add(std::string(1, c));
  made_up_pieces(space, [&](const std::string& prefix, const std::string& last) { return add(prefix + last); });
  w.set_string("tokenizer.ggml.model", "llama");
  w.set_string_array("tokenizer.ggml.tokens", tokens);
  w.set_f32_array("tokenizer.ggml.scores", scores);
  w.set_i32_array("tokenizer.ggml.token_type", types);
  w.set_u32("tokenizer.ggml.unknown_token_id", 0);
  w.set_u32("tokenizer.ggml.bos_token_id", 1);
  w.set_u32("tokenizer.ggml.eos_token_id", 2);
  w.set_bool("tokenizer.ggml.add_bos_token", true);
  w.set_bool("tokenizer.ggml.add_space_prefix", true);
}

void synth_gpt2_vocab(int size, GgufWriter& w) {
  check(size >= 257, "synth: a GPT-2 vocab needs at least 257 tokens (256 bytes + <|endoftext|>)");
  std::vector<std::string> tokens, merges;
  for (int b = 0; b < 256; ++b) tokens.push_back(gpt2_byte_char(b));
  std::vector<int32_t> types(256, 1);
  made_up_pieces(gpt2_byte_char(' '), [&](const std::string& prefix, const std::string& last) {
    if (static_cast<int>(tokens.size()) >= size - 1) return false;
    merges.push_back(prefix + " " + last);
    tokens.push_back(prefix + last);
    types.push_back(1);
    return true;
  });
  int eot = static_cast<int>(tokens.size());
  tokens.push_back("<|endoftext|>");
  types.push_back(3);
  w.set_string("tokenizer.ggml.model", "gpt2");
  w.set_string("tokenizer.ggml.pre", "gpt-2");
  w.set_string_array("tokenizer.ggml.tokens", tokens);
  w.set_i32_array("tokenizer.ggml.token_type", types);
  w.set_string_array("tokenizer.ggml.merges", merges);
  w.set_u32("tokenizer.ggml.bos_token_id", eot);
  w.set_u32("tokenizer.ggml.eos_token_id", eot);
  w.set_bool("tokenizer.ggml.add_bos_token", false);
}

void synthesize_gguf(const SynthSpec& s, const std::string& out_path,
                     const std::function<void(uint64_t, uint64_t)>& progress) {
  GgufWriter w;
  bool gpt2 = s.arch == Arch::kGPT2;
  std::string a = gpt2 ? "gpt2." : "llama.";
  w.set_string("general.architecture", gpt2 ? "gpt2" : "llama");
  w.set_string("general.name", s.name);
  w.set_u32(a + "context_length", s.context_length);
  w.set_u32(a + "embedding_length", s.dim);
  w.set_u32(a + "feed_forward_length", s.hidden_dim);
  w.set_u32(a + "block_count", s.n_layers);
  w.set_u32(a + "attention.head_count", s.n_heads);
  if (gpt2) {
    w.set_f32(a + "attention.layer_norm_epsilon", s.norm_eps);
  } else {
    w.set_u32(a + "attention.head_count_kv", s.n_kv_heads);
    w.set_f32(a + "attention.layer_norm_rms_epsilon", s.norm_eps);
    w.set_f32(a + "rope.freq_base", s.rope_theta);
    if (s.n_heads > 0) w.set_u32(a + "rope.dimension_count", s.dim / s.n_heads);
    if (s.rope_scale_factor > 0.0f) {
      w.set_string(a + "rope.scaling.type", "llama3");
      w.set_f32(a + "rope.scaling.factor", s.rope_scale_factor);
      w.set_f32(a + "rope.scaling.low_freq_factor", s.rope_low_freq_factor);
      w.set_f32(a + "rope.scaling.high_freq_factor", s.rope_high_freq_factor);
      w.set_u32(a + "rope.scaling.original_context_length", s.rope_original_context);
    }
  }

  int vocab_size = s.vocab_size_if_no_tokenizer;
  if (!s.tokenizer_from.empty()) vocab_size = copy_tokenizer(s.tokenizer_from, w);
  validate_spec(s, vocab_size);
  if (s.tokenizer_from.empty()) {
    if (gpt2) synth_gpt2_vocab(vocab_size, w);
    else synth_sentencepiece_vocab(vocab_size, w);
  }

  for (const auto& t : synth_tensor_list(s, vocab_size)) {
    std::string name = t.name;
    w.add_tensor(t.name, t.ne, t.type, [s, name](uint64_t begin, uint64_t count, float* out) {
      synth_tensor_values(s, name, begin, count, out);
    });
  }
  w.write(out_path, progress);
}

}  // namespace cascade
