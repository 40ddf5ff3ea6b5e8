#include "model/model.h"

#include <sys/mman.h>

#include <cstring>

#include "kernels/kernels.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace cascade {

const float* Model::own(std::vector<float> data) {
  owned.push_back(std::move(data));
  return owned.back().data();
}

namespace {
// `bytes` (rounded up to 2 MiB) of anonymous memory backed by transparent
// huge pages; `keep` owns the mapping afterwards.
void* alloc_huge_pages(size_t bytes, std::shared_ptr<void>& keep) {
  const size_t huge = size_t(2) << 20;
  bytes = (bytes + huge - 1) / huge * huge;
  void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  check(mem != MAP_FAILED, "cannot allocate " + std::to_string(bytes >> 20) + " MiB for the weights; "
                           "use --mmap to keep them mapped from the file");
  madvise(mem, bytes, MADV_HUGEPAGE);
  keep = std::shared_ptr<void>(mem, [bytes](void* m) { munmap(m, bytes); });
  return mem;
}
}  // namespace

void Model::copy_weights_to_huge_pages() {
  if (!file) return;
  const auto& c = cfg;
  const size_t d = c.dim, q = c.q_dim(), kv = c.kv_dim(), h = c.hidden_dim, V = c.vocab_size;
  std::vector<std::pair<const float**, size_t>> slots = {
      {&token_embd, V * d}, {&pos_embd, (size_t)c.context_length * d}, {&out_norm, d}, {&out_norm_b, d}};
  const bool tied = lm_head == token_embd;
  if (!tied) slots.push_back({&lm_head, V * d});
  for (auto& w : layers) {
    for (auto [p, n] : std::initializer_list<std::pair<const float**, size_t>>{
             {&w.attn_norm, d}, {&w.attn_norm_b, d}, {&w.wq, q * d}, {&w.wk, kv * d}, {&w.wv, kv * d},
             {&w.bq, q}, {&w.bk, kv}, {&w.bv, kv}, {&w.wo, d * q}, {&w.bo, d}, {&w.ffn_norm, d},
             {&w.ffn_norm_b, d}, {&w.w_gate, h * d}, {&w.w_up, h * d}, {&w.b_up, h}, {&w.w_down, d * h},
             {&w.b_down, d}})
      slots.push_back({p, n});
  }
  const uint8_t* lo = file->data();
  const uint8_t* hi = lo + file->size();
  auto mapped = [&](const float* p) {
    return p && reinterpret_cast<const uint8_t*>(p) >= lo && reinterpret_cast<const uint8_t*>(p) < hi;
  };
  size_t total = 0;
  for (auto [p, n] : slots)
    if (mapped(*p)) total += (n * sizeof(float) + 63) & ~size_t(63);
  if (total == 0) return;
  uint8_t* dst = static_cast<uint8_t*>(alloc_huge_pages(total, huge_pages));
  for (auto [p, n] : slots) {
    if (!mapped(*p)) continue;
    std::memcpy(dst, *p, n * sizeof(float));
    *p = reinterpret_cast<const float*>(dst);
    dst += (n * sizeof(float) + 63) & ~size_t(63);
  }
  if (tied) lm_head = token_embd;
  if (!has_quantized()) file.reset();  // every weight is ours now (quantized ones stay mapped)
}

bool Model::has_quantized() const {
  if (token_embd_q || lm_head_q) return true;
  for (const auto& w : layers)
    for (const QuantMatrix* q : {&w.wq_q, &w.wk_q, &w.wv_q, &w.wo_q, &w.w_gate_q, &w.w_up_q, &w.w_down_q})
      if (*q) return true;
  return false;
}

void Model::pack_weights() {
  const auto& c = cfg;
  const int d = c.dim, q = c.q_dim(), kv = c.kv_dim(), h = c.hidden_dim;
  struct Matrix {
    const float* W;
    const float** panels;
    int out, in;
  };
  std::vector<Matrix> todo;
  for (auto& w : layers)
    for (Matrix m : {Matrix{w.wq, &w.wq_panels, q, d}, Matrix{w.wk, &w.wk_panels, kv, d},
                     Matrix{w.wv, &w.wv_panels, kv, d}, Matrix{w.wo, &w.wo_panels, d, q},
                     Matrix{w.w_gate, &w.w_gate_panels, h, d}, Matrix{w.w_up, &w.w_up_panels, h, d},
                     Matrix{w.w_down, &w.w_down_panels, d, h}})
      if (m.W && !*m.panels && m.out % kPanel == 0) todo.push_back(m);
  size_t total = 0;
  for (const Matrix& m : todo) total += ((size_t)m.out * m.in * sizeof(float) + 63) & ~size_t(63);
  if (total == 0) return;
  auto* dst = static_cast<uint8_t*>(alloc_huge_pages(total, panels_storage));
  for (const Matrix& m : todo) {
    auto* p = reinterpret_cast<float*>(dst);
    pack_panels(p, m.W, m.out, m.in);
    *m.panels = p;
    dst += ((size_t)m.out * m.in * sizeof(float) + 63) & ~size_t(63);
  }
}

int64_t Model::n_params() const {
  const auto& c = cfg;
  int64_t d = c.dim, q = c.q_dim(), kv = c.kv_dim(), h = c.hidden_dim;
  int64_t per_layer = d * q + 2 * d * kv + q * d + (c.arch == Arch::kLlama ? 3 : 2) * d * h;
  int64_t n = static_cast<int64_t>(c.vocab_size) * d + c.n_layers * per_layer;
  if ((lm_head && lm_head != token_embd) || (lm_head_q && lm_head_q.data != token_embd_q.data))
    n += static_cast<int64_t>(c.vocab_size) * d;
  if (pos_embd) n += static_cast<int64_t>(c.context_length) * d;
  return n;
}

void validate_config(const ModelConfig& c) {
  auto positive = [](int v, int max, const char* name) {
    if (v <= 0 || v > max)
      throw Error(std::string("model config: ") + name + " = " + std::to_string(v) +
                  " is out of range (1.." + std::to_string(max) + "); the model file is corrupt");
  };
  positive(c.dim, 1 << 16, "dim");
  positive(c.hidden_dim, 1 << 18, "hidden_dim");
  positive(c.n_layers, 1024, "n_layers");
  positive(c.n_heads, 1024, "n_heads");
  positive(c.n_kv_heads, 1024, "n_kv_heads");
  positive(c.head_dim, 4096, "head_dim");
  positive(c.vocab_size, 1 << 22, "vocab_size");
  positive(c.context_length, 1 << 20, "context_length");
  if (c.n_heads % c.n_kv_heads != 0)
    throw Error("model config: n_heads (" + std::to_string(c.n_heads) +
                ") is not a multiple of n_kv_heads (" + std::to_string(c.n_kv_heads) + ")");
  if (c.rope_style != RopeStyle::kNone && c.head_dim % 2 != 0)
    throw Error("model config: head_dim must be even for RoPE");
  if (!(c.norm_eps > 0.0f && c.norm_eps < 1.0f))
    throw Error("model config: norm epsilon " + std::to_string(c.norm_eps) + " is out of range");
  if (c.rope_style != RopeStyle::kNone && !(c.rope_theta > 0.0f))
    throw Error("model config: rope theta must be positive");
}

void validate_weights(const Model& m) {
  auto need = [](const void* p, const std::string& what) {
    if (!p) throw Error("model is missing tensor " + what);
  };
  auto either = [](const float* f, const QuantMatrix& q) -> const void* {
    return f ? static_cast<const void*>(f) : q.data;
  };
  need(either(m.token_embd, m.token_embd_q), "token embedding");
  need(m.out_norm, "output norm");
  need(either(m.lm_head, m.lm_head_q), "output (LM head)");
  if (m.cfg.arch == Arch::kGPT2) need(m.pos_embd, "position embedding");
  check(static_cast<int>(m.layers.size()) == m.cfg.n_layers, "model has wrong number of layers");
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const auto& l = m.layers[i];
    std::string b = "of block " + std::to_string(i) + ": ";
    need(l.attn_norm, b + "attn_norm");
    need(either(l.wq, l.wq_q), b + "attn_q");
    need(either(l.wk, l.wk_q), b + "attn_k");
    need(either(l.wv, l.wv_q), b + "attn_v");
    need(either(l.wo, l.wo_q), b + "attn_output");
    need(l.ffn_norm, b + "ffn_norm");
    need(either(l.w_up, l.w_up_q), b + "ffn_up");
    need(either(l.w_down, l.w_down_q), b + "ffn_down");
    if (m.cfg.arch == Arch::kLlama) need(either(l.w_gate, l.w_gate_q), b + "ffn_gate");
    if (m.cfg.arch == Arch::kGPT2) {
      need(l.attn_norm_b, b + "attn_norm bias");
      need(l.ffn_norm_b, b + "ffn_norm bias");
    }
  }
}

}  // namespace cascade
