// GGUF reader/writer, GGUF model loading, the synthesizer, and corrupt input.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <set>

#include "model/gguf.h"
#include "model/gguf_model.h"
#include "model/half.h"
#include "model/synth.h"
#include "tests/test_util.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace cascade {
namespace {

using testing::shared_path;
using testing::temp_dir;

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& b) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

// Offset of the first occurrence of `s` in `b` (fails the test if absent).
size_t find(const std::vector<uint8_t>& b, const std::string& s) {
  auto it = std::search(b.begin(), b.end(), s.begin(), s.end());
  EXPECT_NE(it, b.end()) << s;
  return static_cast<size_t>(it - b.begin());
}

template <typename T>
void poke(std::vector<uint8_t>& b, size_t at, T v) {
  std::memcpy(b.data() + at, &v, sizeof v);
}

// Runs fn, expecting a cascade::Error whose message contains `needle`.
void expect_error(const std::function<void()>& fn, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "no error; expected one containing \"" << needle << "\"";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(needle), std::string::npos) << "message: " << msg << "\nexpected: " << needle;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "message should be one line: " << msg;
  }
}

void expect_load_error(const std::string& path, const std::string& needle) {
  expect_error([&] {
    Model m;
    Vocab v;
    load_gguf_model(path, m, v);
  }, needle);
}

// ---- fp16 / bf16 -----------------------------------------------------------

TEST(Half, KnownValuesAndExactRoundTrip) {
  EXPECT_EQ(fp32_to_fp16(1.0f), 0x3c00);
  EXPECT_EQ(fp32_to_fp16(-2.0f), 0xc000);
  EXPECT_EQ(fp32_to_fp16(65504.0f), 0x7bff);
  EXPECT_EQ(fp32_to_fp16(1e6f), 0x7c00);              // overflow -> inf
  EXPECT_EQ(fp32_to_fp16(5.9604645e-8f), 0x0001);     // smallest subnormal
  EXPECT_EQ(fp32_to_fp16(1.0f + 1.0f / 2048), 0x3c00);  // tie -> even
  EXPECT_EQ(fp32_to_fp16(1.0f + 3.0f / 2048), 0x3c02);  // tie -> even (up)
  EXPECT_EQ(fp16_to_fp32(0x3555), 0.333251953125f);
  for (uint32_t h = 0; h < 0x10000; ++h) {
    float f = fp16_to_fp32(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(fp32_to_fp16(f), h) << std::hex << h;
  }
  EXPECT_EQ(fp32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(bf16_to_fp32(0xc040), -3.0f);
  EXPECT_EQ(fp32_to_bf16(bf16_to_fp32(0x1234)), 0x1234);
}

// ---- writer / reader -------------------------------------------------------

TEST(GgufWriter, MetadataAndTensorsRoundTrip) {
  std::string path = temp_dir() + "/rt.gguf";
  GgufWriter w;
  w.set_u32("a.u32", 4000000000u);
  w.set_i32("a.i32", -7);
  w.set_f32("a.f32", 0.25f);
  w.set_bool("a.bool", true);
  w.set_string("a.str", "héllo");
  w.set_string_array("a.strs", {"x", "", "yz"});
  w.set_f32_array("a.f32s", {1.5f, -2.0f});
  w.set_i32_array("a.i32s", {-1, 0, 70000});
  GgufValue u8;
  u8.type = GgufValueType::kU8;
  u8.u = 200;
  w.set("a.u8", u8);
  GgufValue f64;
  f64.type = GgufValueType::kF64;
  f64.f = 1e-300;
  w.set("a.f64", f64);
  GgufValue nested;  // array of arrays of i32
  nested.type = GgufValueType::kArray;
  nested.elem_type = GgufValueType::kArray;
  nested.items = {GgufValue::i32_array({1, 2}), GgufValue::i32_array({3})};
  nested.count = 2;
  w.set("a.nested", nested);

  std::vector<float> data(64 * 3);
  for (size_t i = 0; i < data.size(); ++i) data[i] = std::sin(0.37f * static_cast<float>(i)) * 3.0f;
  w.add_tensor("f32", {64, 3}, data);
  w.add_tensor("f16", {64, 3}, data, GgmlType::kF16);
  w.add_tensor("bf16", {64, 3}, data, GgmlType::kBF16);
  w.add_tensor("q8", {64, 3}, data, GgmlType::kQ8_0);
  // One Q8_0 block with known content: amax 16 -> d = 16/127, q = round(x*127/16).
  std::vector<float> ramp(32);
  for (int j = 0; j < 32; ++j) ramp[j] = static_cast<float>(j - 16);
  w.add_tensor("q8_ramp", {32}, ramp, GgmlType::kQ8_0);
  expect_error([&] { w.add_tensor("f32", {1}, std::vector<float>{1.0f}); }, "duplicate tensor");
  expect_error([&] { w.add_tensor("bad", {31}, std::vector<float>(31), GgmlType::kQ8_0); }, "multiple of 32");
  w.write(path);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));

  GgufFile f = GgufFile::open(path);
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.get_u32("a.u32"), 4000000000u);
  EXPECT_EQ(f.get_i32("a.i32"), -7);
  EXPECT_EQ(f.get_f32("a.f32"), 0.25f);
  EXPECT_TRUE(f.get_bool("a.bool"));
  EXPECT_EQ(f.get_string("a.str"), "héllo");
  EXPECT_EQ(f.get_string_array("a.strs"), (std::vector<std::string>{"x", "", "yz"}));
  EXPECT_EQ(f.get_f32_array("a.f32s"), (std::vector<float>{1.5f, -2.0f}));
  EXPECT_EQ(f.get_i32_array("a.i32s"), (std::vector<int32_t>{-1, 0, 70000}));
  EXPECT_EQ(f.get_u32("a.u8"), 200u);
  EXPECT_EQ(f.find("a.f64")->f, 1e-300);
  ASSERT_EQ(f.find("a.nested")->items.size(), 2u);
  EXPECT_EQ(f.find("a.nested")->items[0].nums, (std::vector<double>{1, 2}));
  EXPECT_EQ(f.find("a.nested")->items[1].nums, (std::vector<double>{3}));
  EXPECT_EQ(f.keys().front(), "a.u32");

  // Defaults, optionals, and type errors.
  EXPECT_EQ(f.get_u32("nope", 9u), 9u);
  EXPECT_FALSE(f.opt_f32("nope").has_value());
  EXPECT_EQ(*f.opt_string("a.str"), "héllo");
  expect_error([&] { f.get_u32("nope"); }, "'nope' is missing");
  expect_error([&] { f.get_u32("a.i32"); }, "out of range");
  expect_error([&] { f.get_string("a.u32"); }, "expected string");
  expect_error([&] { f.get_i32("a.u32"); }, "out of range");

  auto values = [&](const char* name) {
    const GgufTensor* t = f.find_tensor(name);
    EXPECT_NE(t, nullptr);
    std::vector<float> out(t->n_elements);
    dequantize(t->type, t->data, t->n_elements, out.data());
    return out;
  };
  const GgufTensor* t = f.find_tensor("q8");
  EXPECT_EQ(t->type, GgmlType::kQ8_0);
  EXPECT_EQ(t->n_bytes, 6u * 34u);
  EXPECT_EQ(t->shape_string(), "[64, 3]");
  EXPECT_EQ(f.find_tensor("missing"), nullptr);
  EXPECT_EQ(values("f32"), data);
  std::vector<float> f16 = values("f16"), bf16 = values("bf16"), q8 = values("q8");
  for (size_t i = 0; i < data.size(); ++i) {
    EXPECT_EQ(f16[i], fp16_to_fp32(fp32_to_fp16(data[i])));
    EXPECT_EQ(bf16[i], bf16_to_fp32(fp32_to_bf16(data[i])));
    EXPECT_NEAR(q8[i], data[i], 3.0f / 127.0f);  // half a step of the largest block scale
  }
  const GgufTensor* r = f.find_tensor("q8_ramp");
  EXPECT_EQ(fp16_to_fp32(r->data[0] | (r->data[1] << 8)), fp16_to_fp32(fp32_to_fp16(16.0f / 127.0f)));
  for (int j = 0; j < 32; ++j)
    EXPECT_EQ(static_cast<int8_t>(r->data[2 + j]), std::lround((j - 16) * 127.0f / 16.0f)) << j;
}

TEST(GgufWriter, FailureLeavesNoFile) {
  std::string dir = temp_dir();
  GgufWriter w;
  w.set_u32("x", 1);
  // 2M elements: written in two chunks, the second of which fails.
  w.add_tensor("t", {1024, 2048}, GgmlType::kF32, [](uint64_t begin, uint64_t, float*) {
    if (begin > 0) throw Error("source failed");
  });
  expect_error([&] { w.write(dir + "/out.gguf"); }, "source failed");
  EXPECT_FALSE(std::filesystem::exists(dir + "/out.gguf"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/out.gguf.tmp"));
  expect_error([&] { w.write(dir + "/no/such/dir/out.gguf"); }, "cannot create");
}

// ---- stories260K -----------------------------------------------------------

TEST(GgufModel, Stories260KMatchesLlama2cBin) {
  std::string gguf = shared_path("models/stories260K/stories260K.gguf");
  Model m;
  Vocab v;
  load_gguf_model(gguf, m, v);
  const ModelConfig& c = m.cfg;
  EXPECT_EQ(c.arch, Arch::kLlama);
  EXPECT_EQ(c.dim, 64);
  EXPECT_EQ(c.hidden_dim, 172);
  EXPECT_EQ(c.n_layers, 5);
  EXPECT_EQ(c.n_heads, 8);
  EXPECT_EQ(c.n_kv_heads, 4);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_EQ(c.context_length, 2048);  // what the GGUF says (the .bin says 512)
  EXPECT_FLOAT_EQ(c.norm_eps, 1e-5f);
  EXPECT_EQ(c.rope_style, RopeStyle::kAdjacent);
  EXPECT_EQ(c.rope_theta, 10000.0f);
  EXPECT_EQ(c.rope_scale_factor, 0.0f);
  EXPECT_EQ(m.file_sha256, "270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d");
  // F32 weights are used in place.
  const auto* base = reinterpret_cast<const float*>(m.file->data());
  EXPECT_GE(m.token_embd, base);
  EXPECT_TRUE(m.owned.empty());

  EXPECT_EQ(v.kind, VocabKind::kSentencePiece);
  ASSERT_EQ(v.tokens.size(), 512u);
  EXPECT_EQ(v.tokens[0], "<unk>");
  EXPECT_EQ(v.tokens[3], "<0x00>");
  EXPECT_EQ(v.scores.size(), 512u);
  EXPECT_EQ(v.scores[300], -41.0f);
  EXPECT_EQ(v.token_types[1], 3);
  EXPECT_EQ(v.bos_id, 1);
  EXPECT_EQ(v.eos_id, 2);
  EXPECT_EQ(v.unk_id, 0);
  EXPECT_TRUE(v.add_bos);
  EXPECT_TRUE(v.add_space_prefix);

  // The llama2.c checkpoint, read plainly: header then tensors in README order.
  std::FILE* fp = std::fopen(shared_path("models/stories260K/stories260K.bin").c_str(), "rb");
  ASSERT_NE(fp, nullptr);
  int32_t hdr[7];
  ASSERT_EQ(std::fread(hdr, 4, 7, fp), 7u);
  std::vector<float> w(1056540 / 4);
  size_t n = std::fread(w.data(), 4, w.size(), fp);
  std::fclose(fp);
  const int L = 5, d = 64, kv = 32, h = 172, V = 512;
  const float* p = w.data();
  auto same = [&](const float* model, size_t count, const std::string& what) {
    ASSERT_LE(static_cast<size_t>(p - w.data()) + count, n);
    EXPECT_EQ(std::memcmp(model, p, count * 4), 0) << what;
  };
  auto next = [&](size_t count) { p += count; };
  same(m.token_embd, V * d, "token_embd");
  same(m.lm_head, V * d, "output (tied copy)");
  next(V * d);
  for (int l = 0; l < L; ++l) same(m.layers[l].attn_norm, d, "attn_norm"), next(d);
  for (int l = 0; l < L; ++l) same(m.layers[l].wq, d * d, "wq"), next(d * d);
  for (int l = 0; l < L; ++l) same(m.layers[l].wk, kv * d, "wk"), next(kv * d);
  for (int l = 0; l < L; ++l) same(m.layers[l].wv, kv * d, "wv"), next(kv * d);
  for (int l = 0; l < L; ++l) same(m.layers[l].wo, d * d, "wo"), next(d * d);
  for (int l = 0; l < L; ++l) same(m.layers[l].ffn_norm, d, "ffn_norm"), next(d);
  for (int l = 0; l < L; ++l) same(m.layers[l].w_gate, h * d, "w1"), next(h * d);
  for (int l = 0; l < L; ++l) same(m.layers[l].w_down, d * h, "w2"), next(d * h);
  for (int l = 0; l < L; ++l) same(m.layers[l].w_up, h * d, "w3"), next(h * d);
  same(m.out_norm, d, "rms_final");
}

// ---- synthesizer round trips -----------------------------------------------

// The model's pointer for a synthesized tensor name.
const float* model_tensor(const Model& m, const std::string& name) {
  if (name == "token_embd.weight") return m.token_embd;
  if (name == "position_embd.weight") return m.pos_embd;
  if (name == "output_norm.weight") return m.out_norm;
  if (name == "output_norm.bias") return m.out_norm_b;
  if (name == "output.weight") return m.lm_head;
  int layer = std::stoi(name.substr(4));
  const LayerWeights& l = m.layers.at(layer);
  std::string t = name.substr(name.find('.', 4) + 1);
  std::map<std::string, const float*> by_name = {
      {"attn_norm.weight", l.attn_norm}, {"attn_norm.bias", l.attn_norm_b}, {"attn_q.weight", l.wq},
      {"attn_k.weight", l.wk}, {"attn_v.weight", l.wv}, {"attn_qkv.weight", l.wq},
      {"attn_qkv.bias", l.bq}, {"attn_output.weight", l.wo}, {"attn_output.bias", l.bo},
      {"ffn_norm.weight", l.ffn_norm}, {"ffn_norm.bias", l.ffn_norm_b}, {"ffn_gate.weight", l.w_gate},
      {"ffn_up.weight", l.w_up}, {"ffn_up.bias", l.b_up}, {"ffn_down.weight", l.w_down},
      {"ffn_down.bias", l.b_down}};
  return by_name.at(t);
}

void synth_round_trip(SynthSpec s, const std::string& path) {
  uint64_t last_done = 0, last_total = 0;
  synthesize_gguf(s, path, [&](uint64_t done, uint64_t total) {
    EXPECT_GE(done, last_done);
    last_done = done, last_total = total;
  });
  EXPECT_EQ(last_done, last_total);
  EXPECT_GT(last_total, 0u);
  Model m;
  Vocab v;
  load_gguf_model(path, m, v);
  const ModelConfig& c = m.cfg;
  EXPECT_EQ(c.arch, s.arch);
  EXPECT_EQ(c.dim, s.dim);
  EXPECT_EQ(c.hidden_dim, s.hidden_dim);
  EXPECT_EQ(c.n_layers, s.n_layers);
  EXPECT_EQ(c.n_heads, s.n_heads);
  EXPECT_EQ(c.n_kv_heads, s.arch == Arch::kGPT2 ? s.n_heads : s.n_kv_heads);
  EXPECT_EQ(c.context_length, s.context_length);
  EXPECT_EQ(c.norm_eps, s.norm_eps);
  EXPECT_EQ(c.rope_style, s.arch == Arch::kGPT2 ? RopeStyle::kNone : RopeStyle::kAdjacent);
  EXPECT_EQ(c.rope_scale_factor, s.rope_scale_factor);
  if (s.arch == Arch::kLlama) {
    EXPECT_EQ(c.rope_theta, s.rope_theta);
  }
  EXPECT_EQ(c.vocab_size, static_cast<int>(v.tokens.size()));
  EXPECT_EQ(GgufFile::open(path).get_string("general.name"), "cascade-synth");
  EXPECT_EQ(m.lm_head == m.token_embd, s.tied_embeddings);

  auto tensors = synth_tensor_list(s, c.vocab_size);
  for (const auto& t : tensors) {
    uint64_t count = 1;
    for (uint64_t x : t.ne) count *= x;
    std::vector<float> want(count), encoded_back(count);
    synth_tensor_values(s, t.name, 0, count, want.data());
    std::vector<uint8_t> bytes(ggml_nbytes(t.type, count));
    quantize(t.type, want.data(), count, bytes.data());
    dequantize(t.type, bytes.data(), count, encoded_back.data());
    const float* got = model_tensor(m, t.name);
    ASSERT_NE(got, nullptr) << t.name;
    EXPECT_EQ(std::memcmp(got, encoded_back.data(), count * 4), 0) << t.name;
  }
  // The weights are random but sane: projections small, norms one.
  EXPECT_EQ(m.layers[0].attn_norm[0], 1.0f);
  EXPECT_LT(std::fabs(m.layers[0].wq[5]), 0.05f);
}

TEST(Synth, TinyLlamaRoundTrip) {
  SynthSpec s = synth_preset("tiny-llama");
  synth_round_trip(s, temp_dir() + "/tiny-llama.gguf");
}

TEST(Synth, TinyGpt2RoundTripAndVocab) {
  SynthSpec s = synth_preset("tiny-gpt2");
  std::string path = temp_dir() + "/tiny-gpt2.gguf";
  synth_round_trip(s, path);
  Model m;
  Vocab v;
  load_gguf_model(path, m, v);
  EXPECT_EQ(v.kind, VocabKind::kGPT2BPE);
  EXPECT_EQ(v.tokens.size(), 300u);
  EXPECT_EQ(v.tokens[299], "<|endoftext|>");
  EXPECT_EQ(v.merges.size(), 300u - 257u);
  EXPECT_EQ(v.merges[0], "\xC4\xA0 a");  // "Ġ a"
  EXPECT_EQ(v.tokens[256], "\xC4\xA0" "a");
  EXPECT_EQ(v.eos_id, 299);
  EXPECT_FALSE(v.add_bos);
}

TEST(Synth, F16AndQ8_0RoundTrip) {
  SynthSpec s = synth_preset("tiny-llama");
  s.weight_type = GgmlType::kF16;
  synth_round_trip(s, temp_dir() + "/f16.gguf");
  s.weight_type = GgmlType::kQ8_0;
  s.seed = 7;
  synth_round_trip(s, temp_dir() + "/q8.gguf");
  SynthSpec g = synth_preset("tiny-gpt2");
  g.weight_type = GgmlType::kBF16;
  synth_round_trip(g, temp_dir() + "/bf16-gpt2.gguf");
}

TEST(Synth, TokenizerCopiedAndRopeScaling) {
  SynthSpec s = synth_preset("tiny-llama");
  s.tokenizer_from = shared_path("models/stories260K/stories260K.gguf");
  s.rope_theta = 500000.0f;
  s.rope_scale_factor = 32.0f;
  s.tied_embeddings = true;
  std::string path = temp_dir() + "/copied.gguf";
  synth_round_trip(s, path);
  Model m, ref;
  Vocab v, ref_v;
  load_gguf_model(path, m, v);
  load_gguf_model(s.tokenizer_from, ref, ref_v);
  EXPECT_EQ(v.tokens, ref_v.tokens);
  EXPECT_EQ(v.scores, ref_v.scores);
  EXPECT_EQ(v.token_types, ref_v.token_types);
  EXPECT_EQ(m.cfg.vocab_size, 512);
  EXPECT_EQ(m.cfg.rope_low_freq_factor, 1.0f);
  EXPECT_EQ(m.cfg.rope_high_freq_factor, 4.0f);
  EXPECT_EQ(m.cfg.rope_original_context, 8192);
}

TEST(Synth, SyntheticSentencePieceVocabIsWellFormed) {
  GgufWriter w;
  synth_sentencepiece_vocab(32000, w);
  std::string path = temp_dir() + "/vocab.gguf";
  w.write(path);
  Vocab v;
  ASSERT_TRUE(load_gguf_vocab(GgufFile::open(path), v));
  ASSERT_EQ(v.tokens.size(), 32000u);
  EXPECT_EQ(v.tokens[3 + 0x41], "<0x41>");
  std::set<std::string> unique(v.tokens.begin(), v.tokens.end());
  EXPECT_EQ(unique.size(), v.tokens.size());
  // Every made-up piece is reachable: all but its last character is a piece.
  for (size_t i = 259 + 27; i < v.tokens.size(); ++i)
    ASSERT_TRUE(unique.count(v.tokens[i].substr(0, v.tokens[i].size() - 1))) << v.tokens[i];
}

TEST(Synth, PresetsAndBadSpecs) {
  for (const auto& name : synth_preset_names()) EXPECT_GT(synth_preset(name).dim, 0);
  SynthSpec big = synth_preset("llama-3.2-1b");
  EXPECT_EQ(big.vocab_size_if_no_tokenizer, 128256);
  EXPECT_EQ(big.rope_scale_factor, 32.0f);
  expect_error([] { synth_preset("llama-7b"); }, "known presets: tiny-llama");
  SynthSpec s = synth_preset("tiny-llama");
  s.n_kv_heads = 3;
  expect_error([&] { synthesize_gguf(s, temp_dir() + "/bad.gguf"); }, "n_kv_heads");
  s = synth_preset("tiny-llama");
  s.hidden_dim = 100;
  s.weight_type = GgmlType::kQ8_0;
  expect_error([&] { synthesize_gguf(s, temp_dir() + "/bad.gguf"); }, "multiples of 32");
  s = synth_preset("tiny-llama");
  s.tokenizer_from = temp_dir() + "/none.gguf";
  expect_error([&] { synthesize_gguf(s, temp_dir() + "/bad.gguf"); }, "cannot open");
}

// ---- corrupt and unsupported input ----------------------------------------

// A valid small llama file, made once.
const std::string& valid_llama() {
  static std::string path = [] {
    std::string p = temp_dir() + "/valid-llama.gguf";
    synthesize_gguf(synth_preset("tiny-llama"), p);
    return p;
  }();
  return path;
}

// Copies `src` into a writer, letting the caller drop keys/tensors and add more.
void rewrite(const std::string& src, const std::string& dst, const std::function<bool(const std::string&)>& keep,
             const std::function<void(GgufWriter&)>& extra = nullptr) {
  GgufFile f = GgufFile::open(src);
  GgufWriter w;
  for (const auto& k : f.keys())
    if (keep(k)) w.set(k, *f.find(k));
  for (const auto& t : f.tensors()) {
    if (!keep(t.name)) continue;
    std::vector<uint64_t> ne(t.ne, t.ne + t.n_dims);
    w.add_tensor_raw(t.name, ne, t.type, std::vector<uint8_t>(t.data, t.data + t.n_bytes));
  }
  if (extra) extra(w);
  w.write(dst);
}

std::string patched(const std::function<void(std::vector<uint8_t>&)>& patch) {
  static int n = 0;
  std::vector<uint8_t> b = read_bytes(valid_llama());
  patch(b);
  std::string p = temp_dir() + "/patched" + std::to_string(n++) + ".gguf";
  write_bytes(p, b);
  return p;
}

// Offset of tensor info fields for token_embd.weight in the header.
size_t tensor_info_at(const std::vector<uint8_t>& b) { return find(b, "token_embd.weight") + 17; }

TEST(GgufCorrupt, FileLevel) {
  std::string dir = temp_dir();
  write_bytes(dir + "/empty.gguf", {});
  expect_load_error(dir + "/empty.gguf", "is empty");
  expect_load_error(dir, "is a directory");
  expect_load_error(dir + "/nonexistent.gguf", "cannot open");
  expect_load_error(patched([](auto& b) { b[0] = 'X'; }), "bad magic");
  expect_load_error(patched([](auto& b) { poke<uint32_t>(b, 4, 4); }), "unsupported GGUF version 4");
  expect_load_error(patched([](auto& b) { poke<uint32_t>(b, 4, 1); }), "unsupported GGUF version 1");
  // Version 2 has the same layout as 3 for everything we read.
  Model m;
  Vocab v;
  load_gguf_model(patched([](auto& b) { poke<uint32_t>(b, 4, 2); }), m, v);
  EXPECT_EQ(m.cfg.n_layers, 2);
}

TEST(GgufCorrupt, Truncated) {
  std::vector<uint8_t> b = read_bytes(valid_llama());
  size_t kv_mid = find(b, "tokenizer.ggml.tokens") + 40;
  size_t info_mid = tensor_info_at(b) + 6;
  std::vector<size_t> cuts = {2, 6, 13, 20, 30, 60, kv_mid, info_mid, b.size() - 100, b.size() - 1};
  for (size_t cut : cuts) {
    std::string p = temp_dir() + "/cut.gguf";
    write_bytes(p, std::vector<uint8_t>(b.begin(), b.begin() + cut));
    SCOPED_TRACE("cut at " + std::to_string(cut));
    expect_load_error(p, "truncated");
  }
  expect_load_error(patched([](auto& b) { b.resize(b.size() - 4); }), "past the end of the file");
}

TEST(GgufCorrupt, AbsurdCounts) {
  expect_load_error(patched([](auto& b) { poke<uint64_t>(b, 8, uint64_t{1} << 40); }), "absurd n_tensors");
  expect_load_error(patched([](auto& b) { poke<uint64_t>(b, 16, uint64_t{1} << 40); }), "absurd n_kv");
  // The first key's length, then the first value's (general.architecture) length.
  expect_load_error(patched([](auto& b) { poke<uint64_t>(b, 24, uint64_t{1} << 50); }), "absurd string length");
  expect_load_error(patched([](auto& b) { poke<uint64_t>(b, 24 + 8 + 20 + 4, ~uint64_t{0}); }),
                    "absurd string length");
  expect_load_error(patched([](auto& b) { poke<uint64_t>(b, find(b, "tokenizer.ggml.tokens") + 21 + 8, uint64_t{1} << 50); }),
                    "absurd array length");
  expect_load_error(patched([](auto& b) { poke<uint64_t>(b, find(b, "tokenizer.ggml.scores") + 21 + 8, b.size()); }),
                    "absurd array length");
  expect_load_error(patched([](auto& b) { poke<uint32_t>(b, find(b, "tokenizer.ggml.scores") + 21 + 4, 77); }),
                    "unknown array element type 77");
  expect_load_error(patched([](auto& b) { poke<uint32_t>(b, find(b, "general.name") + 12, 99); }),
                    "unknown metadata value type 99");
}

TEST(GgufCorrupt, TensorInfo) {
  expect_load_error(patched([](auto& b) { poke<uint32_t>(b, tensor_info_at(b), 5); }), "n_dims = 5");
  expect_load_error(patched([](auto& b) { poke<uint32_t>(b, tensor_info_at(b), 0); }), "n_dims = 0");
  expect_load_error(patched([](auto& b) {
    poke<uint64_t>(b, tensor_info_at(b) + 4, uint64_t{1} << 40);
    poke<uint64_t>(b, tensor_info_at(b) + 12, uint64_t{1} << 40);
  }), "overflows");
  expect_load_error(patched([](auto& b) { poke<uint32_t>(b, tensor_info_at(b) + 20, 200); }), "unknown tensor type 200");
  expect_load_error(patched([](auto& b) { poke<uint32_t>(b, tensor_info_at(b) + 20, 23); }),
                    "type IQ4_XS (23), which Cascade cannot load");
  expect_load_error(patched([](auto& b) { poke<uint32_t>(b, tensor_info_at(b) + 20, 12); }),
                    "is Q4_K but its row length 64 is not a multiple of 256");
  expect_load_error(patched([](auto& b) { poke<uint64_t>(b, tensor_info_at(b) + 24, 4); }), "not aligned");
  expect_load_error(patched([](auto& b) { poke<uint64_t>(b, tensor_info_at(b) + 24, uint64_t{1} << 40); }),
                    "past the end of the file");
  // A dimension of 2^40 (no overflow) still cannot fit in the file.
  expect_load_error(patched([](auto& b) { poke<uint64_t>(b, tensor_info_at(b) + 12, uint64_t{1} << 40); }),
                    "past the end of the file");
  expect_load_error(patched([](auto& b) {
    size_t at = find(b, "blk.0.attn_k.weight");
    b[at + 11] = 'q';  // blk.0.attn_k -> blk.0.attn_q, which already exists
  }), "duplicate tensor 'blk.0.attn_q.weight'");
}

TEST(GgufCorrupt, ModelLevel) {
  std::string dir = temp_dir();
  auto keep_all = [](const std::string&) { return true; };
  rewrite(valid_llama(), dir + "/missing.gguf", [](const std::string& n) { return n != "blk.1.ffn_up.weight"; });
  expect_load_error(dir + "/missing.gguf", "is missing tensor 'blk.1.ffn_up.weight'");

  rewrite(valid_llama(), dir + "/shape.gguf", [](const std::string& n) { return n != "blk.0.attn_k.weight"; },
          [](GgufWriter& w) { w.add_tensor("blk.0.attn_k.weight", {64, 64}, std::vector<float>(64 * 64)); });
  expect_load_error(dir + "/shape.gguf",
                    "tensor 'blk.0.attn_k.weight' has shape [64, 64] but the hyper-parameters need [64, 32]");

  rewrite(valid_llama(), dir + "/notok.gguf", [](const std::string& n) { return n.rfind("tokenizer.", 0) != 0; });
  expect_load_error(dir + "/notok.gguf", "has no tokenizer (tokenizer.ggml.tokens)");
  Model m;
  Vocab v;
  load_gguf_model(dir + "/notok.gguf", m, v, /*require_tokenizer=*/false);
  EXPECT_TRUE(v.tokens.empty());
  EXPECT_EQ(m.cfg.vocab_size, 320);

  rewrite(valid_llama(), dir + "/arch.gguf", keep_all,
          [](GgufWriter& w) { w.set_string("general.architecture", "mamba"); });
  expect_load_error(dir + "/arch.gguf", "architecture 'mamba', which Cascade does not support");

  rewrite(valid_llama(), dir + "/layers.gguf", keep_all, [](GgufWriter& w) { w.set_u32("llama.block_count", 0); });
  expect_load_error(dir + "/layers.gguf", "n_layers = 0");

  rewrite(valid_llama(), dir + "/nokey.gguf", [](const std::string& n) { return n != "llama.embedding_length"; });
  expect_load_error(dir + "/nokey.gguf", "'llama.embedding_length' is missing");

  rewrite(valid_llama(), dir + "/qwen.gguf", keep_all, [](GgufWriter& w) {
    w.set_string("general.architecture", "qwen2");
  });
  expect_load_error(dir + "/qwen.gguf", "'qwen2.block_count' is missing");

  rewrite(valid_llama(), dir + "/tok.gguf", keep_all, [](GgufWriter& w) {
    w.set_string("tokenizer.ggml.model", "bert");
  });
  expect_load_error(dir + "/tok.gguf", "model 'bert' (tokenizer.ggml.model) is not supported");
}

// tokenizer.ggml.pre / add_bos_token / add_eos_token, with llama.cpp's
// defaults when a key is absent.
TEST(GgufModel, TokenizerPreAndBosFlags) {
  std::string dir = temp_dir();
  std::string gpt2 = dir + "/tok-gpt2.gguf";
  synthesize_gguf(synth_preset("tiny-gpt2"), gpt2);
  auto load_vocab = [](const std::string& path) {
    Vocab v;
    EXPECT_TRUE(load_gguf_vocab(GgufFile::open(path), v));
    return v;
  };
  auto no_flags = [](const std::string& n) {
    return n != "tokenizer.ggml.add_bos_token" && n != "tokenizer.ggml.pre";
  };
  struct Case {
    std::string pre;
    bool add_bos;
  };
  for (const Case& c : {Case{"llama-bpe", true}, Case{"tekken", true}, Case{"qwen2", false},
                        Case{"gpt-2", false}, Case{"smollm", false}, Case{"deepseek-llm", false}}) {
    rewrite(gpt2, dir + "/pre.gguf", no_flags, [&](GgufWriter& w) { w.set_string("tokenizer.ggml.pre", c.pre); });
    Vocab v = load_vocab(dir + "/pre.gguf");
    EXPECT_EQ(v.pre, c.pre);
    EXPECT_EQ(v.add_bos, c.add_bos) << c.pre;
    EXPECT_FALSE(v.add_eos);
  }
  rewrite(gpt2, dir + "/pre.gguf", no_flags, [&](GgufWriter& w) {
    w.set_string("tokenizer.ggml.pre", "llama-bpe");
    w.set_bool("tokenizer.ggml.add_bos_token", false);
    w.set_bool("tokenizer.ggml.add_eos_token", true);
  });
  Vocab v = load_vocab(dir + "/pre.gguf");
  EXPECT_FALSE(v.add_bos);
  EXPECT_TRUE(v.add_eos);

  rewrite(gpt2, dir + "/pre-bad.gguf", no_flags,
          [&](GgufWriter& w) { w.set_string("tokenizer.ggml.pre", "mystery-bpe"); });
  expect_load_error(dir + "/pre-bad.gguf",
                    "tokenizer pre-tokenizer 'mystery-bpe' (tokenizer.ggml.pre) is not supported; supported: gpt-2");

  // SentencePiece ignores pre and adds BOS unless the file says otherwise.
  rewrite(valid_llama(), dir + "/spm.gguf", no_flags,
          [&](GgufWriter& w) { w.set_string("tokenizer.ggml.pre", "anything"); });
  EXPECT_TRUE(load_vocab(dir + "/spm.gguf").add_bos);
}

// llama.cpp's Llama-3 layout: no scaling keys, a rope_freqs.weight table.
TEST(GgufModel, RopeFreqsTable) {
  std::string dir = temp_dir();
  ModelConfig c;
  c.head_dim = 16;
  c.rope_theta = 500000.0f;
  c.rope_scale_factor = 8.0f;
  c.rope_original_context = 8192;
  std::vector<float> table(c.head_dim / 2);
  for (int i = 0; i < c.head_dim / 2; ++i) table[i] = llama3_rope_divisor(c, i);
  EXPECT_EQ(table[0], 1.0f);
  EXPECT_EQ(table.back(), 8.0f);
  auto keep_all = [](const std::string&) { return true; };
  rewrite(valid_llama(), dir + "/rf.gguf", keep_all, [&](GgufWriter& w) {
    w.set_f32("llama.rope.freq_base", 500000.0f);
    w.add_tensor("rope_freqs.weight", {8}, table);
  });
  Model m;
  Vocab v;
  load_gguf_model(dir + "/rf.gguf", m, v);
  EXPECT_EQ(m.cfg.rope_scale_factor, 8.0f);
  EXPECT_EQ(m.cfg.rope_low_freq_factor, 1.0f);
  EXPECT_EQ(m.cfg.rope_high_freq_factor, 4.0f);

  table[3] *= 1.5f;
  rewrite(valid_llama(), dir + "/rf-bad.gguf", keep_all, [&](GgufWriter& w) {
    w.set_f32("llama.rope.freq_base", 500000.0f);
    w.add_tensor("rope_freqs.weight", {8}, table);
  });
  expect_load_error(dir + "/rf-bad.gguf", "not llama3 scaling");
}

// Cut and corrupt the header everywhere: each attempt must load or throw
// cascade::Error, never crash or read out of bounds (run under ASan to see).
TEST(GgufCorrupt, NeverCrashes) {
  std::vector<uint8_t> b = read_bytes(valid_llama());
  size_t header_end = find(b, "blk.1.ffn_down.weight") + 64;
  std::string p = temp_dir() + "/fuzz.gguf";
  auto attempt = [&](const std::vector<uint8_t>& bytes) {
    write_bytes(p, bytes);
    try {
      Model m;
      Vocab v;
      load_gguf_model(p, m, v);
    } catch (const Error&) {
    }
  };
  for (size_t cut = 0; cut < header_end; cut += 97) attempt(std::vector<uint8_t>(b.begin(), b.begin() + cut));
  std::mt19937 rng(42);
  for (int i = 0; i < 300; ++i) {
    std::vector<uint8_t> c = b;
    for (int k = 0; k < 4; ++k) c[rng() % header_end] = static_cast<uint8_t>(rng());
    attempt(c);
  }
}

}  // namespace
}  // namespace cascade
