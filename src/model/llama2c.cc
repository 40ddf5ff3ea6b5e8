#include "model/llama2c.h"

#include <cstdint>
#include <cstring>

#include "util/error.h"
#include "util/mapped_file.h"
#include "util/sha256.h"

namespace cascade {

namespace {

struct Header {
  int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
};

bool read_header(const MappedFile& f, Header& h) {
  if (f.size() < sizeof(Header)) return false;
  std::memcpy(&h, f.data(), sizeof(Header));
  return true;
}

}  // namespace

bool looks_like_llama2c(const std::string& path) { return looks_like_llama2c(*MappedFile::open(path)); }

bool looks_like_llama2c(const MappedFile& f) {
  Header h{};
  if (!read_header(f, h)) return false;
  return h.dim > 0 && h.dim <= 65536 && h.n_layers > 0 && h.n_layers <= 1024 && h.n_heads > 0 &&
         h.n_kv_heads > 0 && h.vocab_size != 0 && h.seq_len > 0;
}

void load_llama2c_model(const std::string& path, Model& out) { load_llama2c_model(MappedFile::open(path), out); }

void load_llama2c_model(std::shared_ptr<MappedFile> f, Model& out) {
  const std::string& path = f->path();
  Header h{};
  check(read_header(*f, h), "'" + path + "' is too short to be a llama2.c checkpoint (" +
                                std::to_string(f->size()) + " bytes)");
  // vocab_size < 0 flags a separate classifier; INT32_MIN has no positive twin.
  check(h.vocab_size != INT32_MIN, "'" + path + "' is not a valid llama2.c checkpoint: vocab_size " +
                                       std::to_string(h.vocab_size) + " is out of range");
  const bool shared = h.vocab_size > 0;
  ModelConfig c;
  c.arch = Arch::kLlama;
  c.dim = h.dim;
  c.hidden_dim = h.hidden_dim;
  c.n_layers = h.n_layers;
  c.n_heads = h.n_heads;
  c.n_kv_heads = h.n_kv_heads;
  c.vocab_size = shared ? h.vocab_size : -h.vocab_size;
  c.context_length = h.seq_len;
  c.head_dim = h.n_heads > 0 ? h.dim / h.n_heads : 0;
  c.norm_eps = 1e-5f;
  c.rope_style = RopeStyle::kAdjacent;
  c.rope_theta = 10000.0f;
  try {
    validate_config(c);
  } catch (const Error& e) {
    throw Error("'" + path + "' is not a valid llama2.c checkpoint: " + e.what());
  }
  check(c.head_dim * c.n_heads == c.dim, "'" + path + "': dim is not a multiple of n_heads");

  const int64_t d = c.dim, L = c.n_layers, kv = c.kv_dim(), hd = c.hidden_dim, V = c.vocab_size;
  const int64_t rope_tail = (int64_t)c.context_length * c.head_dim;  // freq_cis real + imag
  const int64_t floats = V * d + L * d + L * d * d + 2 * L * kv * d + L * d * d + L * d +
                         3 * L * hd * d + d + rope_tail + (shared ? 0 : V * d);
  const int64_t need = (int64_t)sizeof(Header) + floats * 4;
  if ((int64_t)f->size() < need)
    throw Error("'" + path + "' is truncated: the header promises " + std::to_string(need) +
                " bytes but the file has " + std::to_string(f->size()) +
                "; re-download or re-export the checkpoint");

  const float* p = reinterpret_cast<const float*>(f->data() + sizeof(Header));
  auto take = [&p](int64_t n) {
    const float* r = p;
    p += n;
    return r;
  };
  out = Model{};
  out.cfg = c;
  out.token_embd = take(V * d);
  const float* rms_att = take(L * d);
  const float* wq = take(L * d * d);
  const float* wk = take(L * kv * d);
  const float* wv = take(L * kv * d);
  const float* wo = take(L * d * d);
  const float* rms_ffn = take(L * d);
  const float* w1 = take(L * hd * d);
  const float* w2 = take(L * d * hd);
  const float* w3 = take(L * hd * d);
  out.out_norm = take(d);
  take(rope_tail);  // legacy freq_cis tables: RoPE is computed, not read
  out.lm_head = shared ? out.token_embd : take(V * d);
  out.layers.resize(L);
  for (int64_t l = 0; l < L; ++l) {
    auto& w = out.layers[l];
    w.attn_norm = rms_att + l * d;
    w.wq = wq + l * d * d;
    w.wk = wk + l * kv * d;
    w.wv = wv + l * kv * d;
    w.wo = wo + l * d * d;
    w.ffn_norm = rms_ffn + l * d;
    w.w_gate = w1 + l * hd * d;
    w.w_down = w2 + l * d * hd;
    w.w_up = w3 + l * hd * d;
  }
  out.file_sha256 = sha256_hex(f->data(), f->size());
  out.file = f;
  validate_weights(out);
}

}  // namespace cascade
