// Block-quantized GGUF types: known-answer blocks, quantize/dequantize error,
// synthesized files of every type (and a Q4_K_M-like mix) loading with the
// exact dequantized weights, and the engine on them equal to the engine on
// an F32 twin holding those weights.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <algorithm>
#include <functional>
#include <map>
#include <random>

#include "engine/engine.h"
#include "model/gguf.h"
#include "model/gguf_model.h"
#include "model/half.h"
#include "util/mapped_file.h"
#include "model/synth.h"
#include "tests/test_util.h"
#include "util/error.h"

namespace cascade {
namespace {

using testing::temp_dir;

const std::vector<GgmlType> kQuantTypes = {
    GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ5_0, GgmlType::kQ5_1, GgmlType::kQ8_0,
    GgmlType::kQ2_K, GgmlType::kQ3_K, GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K,
};

std::string name_of(GgmlType t) { return ggml_type_name(static_cast<uint32_t>(t)); }

void put16(std::vector<uint8_t>& b, size_t at, uint16_t v) { std::memcpy(b.data() + at, &v, 2); }

std::vector<float> decode(GgmlType t, const std::vector<uint8_t>& bytes) {
  const uint64_t n = bytes.size() / ggml_nbytes(t, ggml_block_size(t)) * ggml_block_size(t);
  std::vector<float> y(n);
  dequantize(t, bytes.data(), n, y.data());
  return y;
}

// ---- known-answer blocks ----------------------------------------------------
// Each block's bytes are set by hand from ggml-common.h's layout and the
// expected values computed from the format's formula, not from the decoder.

constexpr uint16_t kHalfOne = 0x3C00, kHalfHalf = 0x3800, kHalfQuarter = 0x3400, kHalfMinusOne = 0xBC00;

TEST(QuantKnownAnswer, Legacy32Blocks) {
  {  // Q4_0: d = 0.5, qs[j] = j | (15-j) << 4 -> x[j] = (j-8)/2, x[16+j] = (7-j)/2
    std::vector<uint8_t> b(18);
    put16(b, 0, kHalfHalf);
    for (int j = 0; j < 16; ++j) b[2 + j] = static_cast<uint8_t>(j | ((15 - j) << 4));
    auto y = decode(GgmlType::kQ4_0, b);
    for (int j = 0; j < 16; ++j) {
      EXPECT_EQ(y[j], (j - 8) * 0.5f);
      EXPECT_EQ(y[16 + j], (7 - j) * 0.5f);
    }
  }
  {  // Q4_1: d = 0.25, m = -1, both nibbles j -> x = j/4 - 1
    std::vector<uint8_t> b(20);
    put16(b, 0, kHalfQuarter);
    put16(b, 2, kHalfMinusOne);
    for (int j = 0; j < 16; ++j) b[4 + j] = static_cast<uint8_t>(j | (j << 4));
    auto y = decode(GgmlType::kQ4_1, b);
    for (int j = 0; j < 16; ++j) {
      EXPECT_EQ(y[j], j * 0.25f - 1);
      EXPECT_EQ(y[16 + j], j * 0.25f - 1);
    }
  }
  {  // Q5_0: d = 1, qh bits 16..31 set (the high bit of values 16..31)
    std::vector<uint8_t> b(22);
    put16(b, 0, kHalfOne);
    const uint32_t qh = 0xFFFF0000u;
    std::memcpy(b.data() + 2, &qh, 4);
    for (int j = 0; j < 16; ++j) b[6 + j] = static_cast<uint8_t>(j | (j << 4));
    auto y = decode(GgmlType::kQ5_0, b);
    for (int j = 0; j < 16; ++j) {
      EXPECT_EQ(y[j], j - 16.0f);
      EXPECT_EQ(y[16 + j], static_cast<float>(j));
    }
  }
  {  // Q5_1: d = 1, m = 0.5, qh bits 0..15 set
    std::vector<uint8_t> b(24);
    put16(b, 0, kHalfOne);
    put16(b, 2, kHalfHalf);
    const uint32_t qh = 0x0000FFFFu;
    std::memcpy(b.data() + 4, &qh, 4);
    for (int j = 0; j < 16; ++j) b[8 + j] = static_cast<uint8_t>(j | (j << 4));
    auto y = decode(GgmlType::kQ5_1, b);
    for (int j = 0; j < 16; ++j) {
      EXPECT_EQ(y[j], (j + 16) + 0.5f);
      EXPECT_EQ(y[16 + j], j + 0.5f);
    }
  }
  {  // Q8_0: d = 2 (0x4000), q = j - 16
    std::vector<uint8_t> b(34);
    put16(b, 0, 0x4000);
    for (int j = 0; j < 32; ++j) b[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(j - 16));
    auto y = decode(GgmlType::kQ8_0, b);
    for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], 2.0f * (j - 16));
  }
}

// In the K-quants with 2-bit fields, value e of a 256-block sits in byte
// (e / 128) * 32 + e % 32 at bit 2 * ((e % 128) / 32); every byte 0xE4
// (fields 0, 1, 2, 3 from the low bits up) makes that field (e % 128) / 32.
int field_e4(int e) { return (e % 128) / 32; }

TEST(QuantKnownAnswer, KQuantBlocks) {
  {  // Q2_K: scales[k] = k | 2 << 4 (scale k, min 2), d = 1, dmin = 0.5
    std::vector<uint8_t> b(84);
    for (int k = 0; k < 16; ++k) b[k] = static_cast<uint8_t>(k | (2 << 4));
    std::fill(b.begin() + 16, b.begin() + 80, 0xE4);
    put16(b, 80, kHalfOne);
    put16(b, 82, kHalfHalf);
    auto y = decode(GgmlType::kQ2_K, b);
    for (int e = 0; e < 256; ++e) EXPECT_EQ(y[e], static_cast<float>((e / 16) * field_e4(e) - 1)) << e;
  }
  {  // Q3_K: all 16 6-bit scales 33 (x = 1 * q), hmask set then clear
    std::vector<uint8_t> b(110);
    std::fill(b.begin() + 32, b.begin() + 96, 0xE4);
    std::fill(b.begin() + 96, b.begin() + 104, 0x11);   // low nibbles: 1
    std::fill(b.begin() + 104, b.begin() + 108, 0xAA);  // high 2 bits: 2 -> 33
    put16(b, 108, kHalfOne);
    std::fill(b.begin(), b.begin() + 32, 0xFF);
    auto y = decode(GgmlType::kQ3_K, b);
    for (int e = 0; e < 256; ++e) EXPECT_EQ(y[e], static_cast<float>(field_e4(e))) << e;
    std::fill(b.begin(), b.begin() + 32, 0x00);  // high bit clear: q - 4
    y = decode(GgmlType::kQ3_K, b);
    for (int e = 0; e < 256; ++e) EXPECT_EQ(y[e], static_cast<float>(field_e4(e) - 4)) << e;
  }
  // Q4_K / Q5_K: d = dmin = 1, the 8 scales 1..8 and mins 1 packed as
  // get_scale_min_k4 reads them; each qs byte 0x21 (low nibble 1, high 2).
  // Value e is in sub-block e / 32; the first 32 of each 64 use low nibbles.
  const auto k4_scales = [](std::vector<uint8_t>& b, size_t at) {
    const uint8_t s[12] = {1, 2, 3, 4, 1, 1, 1, 1, 5 | 1 << 4, 6 | 1 << 4, 7 | 1 << 4, 8 | 1 << 4};
    std::memcpy(b.data() + at, s, 12);
  };
  {
    std::vector<uint8_t> b(144);
    put16(b, 0, kHalfOne);
    put16(b, 2, kHalfOne);
    k4_scales(b, 4);
    std::fill(b.begin() + 16, b.end(), 0x21);
    auto y = decode(GgmlType::kQ4_K, b);
    for (int e = 0; e < 256; ++e) {
      const int q = (e % 64) < 32 ? 1 : 2;
      EXPECT_EQ(y[e], static_cast<float>((e / 32 + 1) * q - 1)) << e;
    }
  }
  {  // Q5_K: the same, with every qh bit set (+16)
    std::vector<uint8_t> b(176);
    put16(b, 0, kHalfOne);
    put16(b, 2, kHalfOne);
    k4_scales(b, 4);
    std::fill(b.begin() + 16, b.begin() + 48, 0xFF);
    std::fill(b.begin() + 48, b.end(), 0x21);
    auto y = decode(GgmlType::kQ5_K, b);
    for (int e = 0; e < 256; ++e) {
      const int q = (e % 64) < 32 ? 17 : 18;
      EXPECT_EQ(y[e], static_cast<float>((e / 32 + 1) * q - 1)) << e;
    }
  }
  {  // Q6_K: scales[k] = k - 8 (one per 16 values), d = 1; all-zero bits give
     // q = -32, all-one bits q = 31
    std::vector<uint8_t> b(210);
    for (int k = 0; k < 16; ++k) b[192 + k] = static_cast<uint8_t>(static_cast<int8_t>(k - 8));
    put16(b, 208, kHalfOne);
    auto y = decode(GgmlType::kQ6_K, b);
    for (int e = 0; e < 256; ++e) EXPECT_EQ(y[e], static_cast<float>((e / 16 - 8) * -32)) << e;
    std::fill(b.begin(), b.begin() + 192, 0xFF);
    y = decode(GgmlType::kQ6_K, b);
    for (int e = 0; e < 256; ++e) EXPECT_EQ(y[e], static_cast<float>((e / 16 - 8) * 31)) << e;
  }
}

// ---- quantizers ---------------------------------------------------------------

TEST(Quantize, ErrorIsWithinTheFormatsResolution) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  const int n = 256 * 64;
  std::vector<float> x(n);
  for (float& v : x) v = normal(rng);
  for (int i = 0; i < n; i += 997) x[i] *= 8.0f;  // a few outliers, as real weights have
  // Relative RMS error bounds: roughly one half step of each format's grid
  // over a Gaussian block, with room for the coarse fits of the K-quants.
  const std::map<GgmlType, double> bound = {
      {GgmlType::kQ4_0, 0.12}, {GgmlType::kQ4_1, 0.12}, {GgmlType::kQ5_0, 0.06}, {GgmlType::kQ5_1, 0.06},
      {GgmlType::kQ8_0, 0.01}, {GgmlType::kQ2_K, 0.45}, {GgmlType::kQ3_K, 0.25}, {GgmlType::kQ4_K, 0.12},
      {GgmlType::kQ5_K, 0.06}, {GgmlType::kQ6_K, 0.03}};
  double ss = 0;
  for (float v : x) ss += double(v) * v;
  for (GgmlType t : kQuantTypes) {
    std::vector<uint8_t> q(ggml_nbytes(t, n));
    quantize(t, x.data(), n, q.data());
    std::vector<float> y(n);
    dequantize(t, q.data(), n, y.data());
    double se = 0;
    for (int i = 0; i < n; ++i) se += (double(y[i]) - x[i]) * (double(y[i]) - x[i]);
    const double rel = std::sqrt(se / ss);
    EXPECT_LT(rel, bound.at(t)) << name_of(t);
    EXPECT_GT(rel, 0.0) << name_of(t);
    std::printf("%-5s relative RMS error %.4f (%.2f bits/weight)\n", name_of(t).c_str(), rel,
                8.0 * q.size() / n);
  }
}

TEST(Quantize, ZeroAndConstantBlocks) {
  for (GgmlType t : kQuantTypes) {
    const int n = ggml_block_size(t);
    for (float c : {0.0f, 0.5f, -3.0f}) {
      std::vector<float> x(n, c), y(n);
      std::vector<uint8_t> q(ggml_nbytes(t, n));
      quantize(t, x.data(), n, q.data());
      dequantize(t, q.data(), n, y.data());
      for (int i = 0; i < n; ++i) ASSERT_NEAR(y[i], c, std::fabs(c) * 0.01f + 1e-6f) << name_of(t) << " c=" << c;
    }
  }
}

TEST(Quantize, TypeNamesAndSizes) {
  EXPECT_EQ(ggml_type_from_name("q4_k"), GgmlType::kQ4_K);
  EXPECT_EQ(ggml_type_from_name("Q6_K"), GgmlType::kQ6_K);
  EXPECT_FALSE(ggml_type_from_name("iq4_xs").has_value());
  EXPECT_EQ(ggml_nbytes(GgmlType::kQ4_0, 64), 36u);
  EXPECT_EQ(ggml_nbytes(GgmlType::kQ2_K, 512), 168u);
  EXPECT_EQ(ggml_nbytes(GgmlType::kQ3_K, 256), 110u);
  EXPECT_EQ(ggml_nbytes(GgmlType::kQ4_K, 256), 144u);
  EXPECT_EQ(ggml_nbytes(GgmlType::kQ5_K, 256), 176u);
  EXPECT_EQ(ggml_nbytes(GgmlType::kQ6_K, 256), 210u);
  EXPECT_EQ(ggml_block_size(GgmlType::kQ5_1), 32);
  EXPECT_TRUE(ggml_type_supported(14));
  EXPECT_FALSE(ggml_type_supported(23));
}

// ---- files and the engine -------------------------------------------------------

// A llama whose every matrix row is a multiple of 256, so K-quants apply
// everywhere.
SynthSpec k_llama(GgmlType t, int layers = 2) {
  SynthSpec s = synth_preset("tiny-llama");
  s.dim = 256, s.hidden_dim = 512, s.n_heads = 4, s.n_kv_heads = 2, s.n_layers = layers;
  s.weight_type = t;
  s.seed = 11;
  return s;
}

// The same file with every tensor converted to F32 (values = the dequantized ones).
void write_f32_twin(const std::string& src, const std::string& dst) {
  GgufFile f = GgufFile::open(src);
  GgufWriter w;
  for (const auto& k : f.keys()) w.set(k, *f.find(k));
  for (const auto& t : f.tensors()) {
    std::vector<float> v(t.n_elements);
    dequantize(t.type, t.data, t.n_elements, v.data());
    w.add_tensor(t.name, std::vector<uint64_t>(t.ne, t.ne + t.n_dims), std::move(v));
  }
  w.write(dst);
}

// Logits of every prompt row, then of `gen` greedy steps.
std::vector<float> run_engine(const Model& m, const std::vector<int32_t>& prompt, int gen,
                              std::vector<int32_t>* tokens) {
  Engine eng(m);
  const int V = m.cfg.vocab_size;
  std::vector<float> all(prompt.size() * V), last(V);
  eng.forward(prompt.data(), static_cast<int>(prompt.size()), last.data(), all.data());
  for (int i = 0; i < gen; ++i) {
    const int32_t next = static_cast<int32_t>(std::max_element(last.begin(), last.end()) - last.begin());
    tokens->push_back(next);
    eng.forward(&next, 1, last.data());
    all.insert(all.end(), last.begin(), last.end());
  }
  return all;
}

void expect_engine_equals_f32_twin(const std::string& path, bool keep_quantized = false) {
  const std::string twin = path + ".f32.gguf";
  write_f32_twin(path, twin);
  Model q, f;
  Vocab vq, vf;
  load_gguf_model(path, q, vq, true, keep_quantized);
  EXPECT_EQ(q.has_quantized(), keep_quantized);
  load_gguf_model(twin, f, vf);
  const std::vector<int32_t> prompt = {1, 17, 200, 5, 99, 300, 42, 7};
  std::vector<int32_t> tq, tf;
  const std::vector<float> lq = run_engine(q, prompt, 6, &tq), lf = run_engine(f, prompt, 6, &tf);
  ASSERT_EQ(lq.size(), lf.size());
  float diff = 0, mag = 0;
  for (size_t i = 0; i < lq.size(); ++i) {
    diff = std::max(diff, std::fabs(lq[i] - lf[i]));
    mag = std::max(mag, std::fabs(lf[i]));
  }
  EXPECT_LE(diff, 1e-4f) << path;
  EXPECT_GT(mag, 0.0f);
  EXPECT_EQ(tq, tf) << path;
}

TEST(QuantFile, EveryTypeRoundTripsThroughGgufAndTheEngine) {
  for (GgmlType t : kQuantTypes) {
    SCOPED_TRACE(name_of(t));
    const SynthSpec s = k_llama(t);
    const std::string path = temp_dir() + "/" + name_of(t) + ".gguf";
    synthesize_gguf(s, path);
    GgufFile f = GgufFile::open(path);
    Model m;
    Vocab v;
    load_gguf_model(path, m, v);
    // Every matrix is stored in the type, and loads as exactly its
    // dequantization: quantize(synth values) -> dequantize.
    for (const SynthTensor& st : synth_tensor_list(s, m.cfg.vocab_size)) {
      const GgufTensor* gt = f.find_tensor(st.name);
      ASSERT_NE(gt, nullptr) << st.name;
      EXPECT_EQ(gt->type, st.ne.size() == 2 ? t : GgmlType::kF32) << st.name;
      std::vector<float> want(gt->n_elements), ref(gt->n_elements);
      synth_tensor_values(s, st.name, 0, want.size(), want.data());
      std::vector<uint8_t> bytes(ggml_nbytes(gt->type, want.size()));
      quantize(gt->type, want.data(), want.size(), bytes.data());
      ASSERT_EQ(bytes.size(), gt->n_bytes);
      EXPECT_EQ(std::memcmp(bytes.data(), gt->data, bytes.size()), 0) << st.name;
      dequantize(gt->type, gt->data, ref.size(), ref.data());
      const float* loaded = st.name == "blk.1.ffn_down.weight" ? m.layers[1].w_down
                            : st.name == "token_embd.weight"     ? m.token_embd
                            : st.name == "blk.0.attn_v.weight"   ? m.layers[0].wv
                            : st.name == "output.weight"         ? m.lm_head
                                                                 : nullptr;
      if (loaded) {
        EXPECT_EQ(std::memcmp(loaded, ref.data(), ref.size() * 4), 0) << st.name;
      }
    }
    expect_engine_equals_f32_twin(path);
  }
}

// Weights kept quantized in memory (dequantized inside the matrix products):
// logits within 1e-4 of the F32 twin's, same greedy tokens, for every type,
// for the mix, and for GPT-2 (fused QKV rows, tied head).
TEST(QuantInMemory, EngineEqualsF32Twin) {
  const std::string dir = temp_dir();
  for (GgmlType t : kQuantTypes) {
    SCOPED_TRACE(name_of(t));
    const std::string path = dir + "/mem-" + name_of(t) + ".gguf";
    synthesize_gguf(k_llama(t), path);
    expect_engine_equals_f32_twin(path, true);
  }
  SynthSpec mix = k_llama(GgmlType::kQ4_K, 8);
  mix.q4_k_m = true;
  synthesize_gguf(mix, dir + "/mem-mix.gguf");
  expect_engine_equals_f32_twin(dir + "/mem-mix.gguf", true);
  SynthSpec g = synth_preset("tiny-gpt2");
  g.dim = 256, g.hidden_dim = 512, g.vocab_size_if_no_tokenizer = 320;
  g.weight_type = GgmlType::kQ6_K;
  synthesize_gguf(g, dir + "/mem-gpt2.gguf");
  expect_engine_equals_f32_twin(dir + "/mem-gpt2.gguf", true);
}

// The quantized bytes are used in place: no fp32 copy of any matrix.
TEST(QuantInMemory, MatricesStayInTheMappedFile) {
  const std::string path = temp_dir() + "/inplace.gguf";
  synthesize_gguf(k_llama(GgmlType::kQ4_K), path);
  Model m;
  Vocab v;
  load_gguf_model(path, m, v, true, true);
  EXPECT_EQ(m.token_embd, nullptr);
  EXPECT_EQ(m.layers[0].wq, nullptr);
  ASSERT_TRUE(m.layers[1].w_down_q);
  const uint8_t* lo = m.file->data();
  EXPECT_GE(m.layers[1].w_down_q.data, lo);
  EXPECT_LT(m.layers[1].w_down_q.data, lo + m.file->size());
  EXPECT_EQ(m.layers[1].w_down_q.row_bytes, 512u / 256 * 144);
  EXPECT_TRUE(m.owned.empty());  // only the F32 norms, which point into the file
  m.copy_weights_to_huge_pages();  // keeps the mapping the quantized views need
  EXPECT_NE(m.file, nullptr);
  Model expanded;
  load_gguf_model(path, expanded, v);
  EXPECT_EQ(m.n_params(), expanded.n_params());
}

TEST(QuantFile, Q4KMMixLoadsAndRuns) {
  SynthSpec s = k_llama(GgmlType::kQ4_K, 8);
  s.q4_k_m = true;
  const std::string path = temp_dir() + "/q4_k_m.gguf";
  synthesize_gguf(s, path);
  GgufFile f = GgufFile::open(path);
  const auto type = [&](const std::string& n) { return f.find_tensor(n)->type; };
  EXPECT_EQ(type("token_embd.weight"), GgmlType::kQ4_K);
  EXPECT_EQ(type("output.weight"), GgmlType::kQ6_K);
  EXPECT_EQ(type("output_norm.weight"), GgmlType::kF32);
  // use_more_bits(i, 8): i < 1, i >= 7, or (i - 1) % 3 == 2 -> layers 0, 3, 6, 7.
  for (int i = 0; i < 8; ++i) {
    const bool more = i == 0 || i == 3 || i == 6 || i == 7;
    const std::string b = "blk." + std::to_string(i) + ".";
    EXPECT_EQ(type(b + "attn_v.weight"), more ? GgmlType::kQ6_K : GgmlType::kQ4_K) << i;
    EXPECT_EQ(type(b + "ffn_down.weight"), more ? GgmlType::kQ6_K : GgmlType::kQ4_K) << i;
    EXPECT_EQ(type(b + "attn_q.weight"), GgmlType::kQ4_K);
    EXPECT_EQ(type(b + "attn_norm.weight"), GgmlType::kF32);
  }
  expect_engine_equals_f32_twin(path);
}

TEST(QuantFile, KQuantsFallBackOnShortRows) {
  // tiny-llama's rows are 64 or 128 long: K-quant matrices fall back as
  // llama-quantize does.
  const std::map<GgmlType, GgmlType> fallback = {{GgmlType::kQ2_K, GgmlType::kQ4_0}, {GgmlType::kQ3_K, GgmlType::kQ4_0},
                                                 {GgmlType::kQ4_K, GgmlType::kQ5_0}, {GgmlType::kQ5_K, GgmlType::kQ5_1},
                                                 {GgmlType::kQ6_K, GgmlType::kQ8_0}};
  for (const auto& [t, want] : fallback) {
    SynthSpec s = synth_preset("tiny-llama");
    s.weight_type = t;
    const std::string path = temp_dir() + "/fallback.gguf";
    synthesize_gguf(s, path);
    EXPECT_EQ(GgufFile::open(path).find_tensor("blk.0.ffn_up.weight")->type, want) << name_of(t);
    Model m;
    Vocab v;
    load_gguf_model(path, m, v);
  }
}

void expect_error(const std::function<void()>& fn, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "no error; expected one containing \"" << needle << "\"";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

TEST(QuantFile, RowLengthErrors) {
  GgufWriter w;
  expect_error([&] { w.add_tensor("t", {128, 2}, std::vector<float>(256), GgmlType::kQ4_K); },
               "Q4_K tensor 't' needs a row length that is a multiple of 256, got 128");
  // A file claiming a K-quant tensor with short rows.
  const std::string path = temp_dir() + "/short.gguf";
  GgufWriter bad;
  bad.set_string("general.architecture", "llama");
  bad.add_tensor_raw("x", {128, 2}, GgmlType::kQ8_0, std::vector<uint8_t>(ggml_nbytes(GgmlType::kQ8_0, 256)));
  bad.write(path);
  std::vector<uint8_t> b;
  {
    std::FILE* fp = std::fopen(path.c_str(), "rb");
    ASSERT_NE(fp, nullptr);
    int c;
    while ((c = std::fgetc(fp)) != EOF) b.push_back(static_cast<uint8_t>(c));
    std::fclose(fp);
  }
  // The tensor info: name "x" (8 + 1 bytes), n_dims, ne[2], then the type.
  const size_t at = std::search(b.begin(), b.end(), std::begin("x"), std::begin("x") + 1) - b.begin();
  ASSERT_LT(at, b.size());
  const uint32_t q4k = 12;
  std::memcpy(b.data() + at + 1 + 4 + 16, &q4k, 4);
  std::FILE* fp = std::fopen(path.c_str(), "wb");
  std::fwrite(b.data(), 1, b.size(), fp);
  std::fclose(fp);
  expect_error([&] { GgufFile::open(path); }, "tensor 'x' is Q4_K but its row length 128 is not a multiple of 256");
}

}  // namespace
}  // namespace cascade
