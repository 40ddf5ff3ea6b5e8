// fuzz_make_seeds OUT — writes the binary seed inputs of the fuzz targets
// into OUT/<target>/ (tests/fuzz/corpus is made with OUT = tests/fuzz/corpus;
// the JSON seeds there are written by hand). Every file is small (< 64 KB)
// and made by Cascade's own writers, so each starts the fuzzer on an input
// that parses all the way: tiny GGUF models (synthesize_gguf) of each
// architecture and block type, llama2.c checkpoints and tokenizers, GGUF
// vocabs, Link messages (encode_link) and session setups (to_wire).
// Built by tests/fuzz/fuzz.cmake only; not part of the normal build.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "model/gguf.h"
#include "model/synth.h"
#include "rpc/wire.h"
#include "util/error.h"

namespace {

using namespace cascade;
namespace fs = std::filesystem;

fs::path g_out;

void put(const std::string& target, const std::string& name, const std::string& bytes) {
  fs::create_directories(g_out / target);
  const fs::path p = g_out / target / name;
  std::ofstream(p, std::ios::binary).write(bytes.data(), (std::streamsize)bytes.size());
  check(bytes.size() < 64 * 1024, p.string() + " is " + std::to_string(bytes.size()) + " bytes; keep seeds < 64 KB");
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

template <typename T>
void append(std::string& s, T v) {
  s.append(reinterpret_cast<const char*>(&v), sizeof v);
}

void gguf_models() {
  struct Case {
    const char* name;
    Arch arch;
    int dim, hidden, heads, kv_heads;
    GgmlType type;
    bool tied;
  };
  const Case cases[] = {
      {"llama_f32", Arch::kLlama, 8, 16, 2, 1, GgmlType::kF32, false},
      {"llama_f16_tied", Arch::kLlama, 8, 16, 2, 2, GgmlType::kF16, true},
      {"llama_bf16", Arch::kLlama, 8, 16, 2, 2, GgmlType::kBF16, true},
      {"llama_q8_0", Arch::kLlama, 32, 32, 2, 2, GgmlType::kQ8_0, true},
      {"llama_q4_0", Arch::kLlama, 32, 32, 2, 1, GgmlType::kQ4_0, true},
      {"llama_q5_1", Arch::kLlama, 32, 32, 2, 2, GgmlType::kQ5_1, true},
      {"llama_rope_scaled", Arch::kLlama, 8, 16, 2, 2, GgmlType::kF32, true},
      {"gpt2_f32", Arch::kGPT2, 8, 16, 2, 2, GgmlType::kF32, true},
  };
  const fs::path tmp = fs::temp_directory_path() / "cascade_fuzz_seed.gguf";
  for (const Case& c : cases) {
    SynthSpec s;
    s.arch = c.arch;
    s.dim = c.dim;
    s.hidden_dim = c.hidden;
    s.n_layers = 1;
    s.n_heads = c.heads;
    s.n_kv_heads = c.kv_heads;
    s.context_length = 16;
    s.vocab_size_if_no_tokenizer = c.arch == Arch::kGPT2 ? 300 : 259;  // GPT-2 BPE: some merges
    s.weight_type = c.type;
    s.tied_embeddings = c.tied;
    if (std::string(c.name) == "llama_rope_scaled") s.rope_scale_factor = 8.0f, s.rope_original_context = 8;
    synthesize_gguf(s, tmp.string());
    put("gguf", std::string(c.name) + ".gguf", slurp(tmp));
  }
  // One tensor of every block type, and every metadata value type: the
  // parser's paths, not a loadable model.
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_u32("u32", 7);
  w.set_i32("i32", -7);
  w.set_f32("f32", 0.5f);
  w.set_bool("bool", true);
  w.set_string_array("strs", {"a", "bc"});
  w.set_f32_array("f32s", {1, 2});
  w.set_i32_array("i32s", {-1, 2});
  for (GgmlType t : {GgmlType::kQ2_K, GgmlType::kQ3_K, GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K,
                     GgmlType::kQ4_1, GgmlType::kQ5_0})
    w.add_tensor("t." + ggml_type_name((uint32_t)t), {256}, std::vector<float>(256, 0.25f), t);
  w.write(tmp.string());
  put("gguf", "types.gguf", slurp(tmp));
  fs::remove(tmp);
}

void gguf_vocabs() {
  const fs::path tmp = fs::temp_directory_path() / "cascade_fuzz_vocab.gguf";
  struct Case {
    const char* name;
    bool bpe;
    const char* pre;
    const char* text;
  };
  const Case cases[] = {
      {"spm", false, "", "Hello world, <s> caf\xc3\xa9 \xe2\x98\x83 12345"},
      {"bpe_gpt2", true, "gpt-2", "Hello world's 123 \t\n caf\xc3\xa9"},
      {"bpe_llama3", true, "llama-bpe", "I'm   here: 1234567 \xf0\x9f\x98\x80!"},
      {"bpe_qwen2", true, "qwen2", "<|endoftext|> x\r\ny"},
  };
  for (const Case& c : cases) {
    GgufWriter w;
    if (c.bpe) {
      synth_gpt2_vocab(300, w);
      if (*c.pre) w.set_string("tokenizer.ggml.pre", c.pre);
    } else {
      synth_sentencepiece_vocab(300, w);
    }
    w.write(tmp.string());
    const std::string vocab = slurp(tmp);
    for (uint8_t flags : {1, 7}) {  // GGUF vocab; then with add_special and parse_special
      std::string in;
      append<uint8_t>(in, flags);
      append<uint16_t>(in, 0);
      append<uint32_t>(in, (uint32_t)vocab.size());
      in += vocab + c.text;
      put("tokenizer", std::string(c.name) + "_" + std::to_string(flags), in);
    }
  }
  fs::remove(tmp);
}

// A llama2.c tokenizer.bin: <unk>, BOS, EOS, 256 byte pieces, then `extra`.
std::string llama2c_vocab(const std::vector<std::string>& extra, int* size) {
  std::vector<std::string> pieces = {"<unk>", "\n<s>\n", "\n</s>\n"};
  char buf[8];
  for (int b = 0; b < 256; ++b) {
    snprintf(buf, sizeof buf, "<0x%02X>", b);
    pieces.push_back(buf);
  }
  pieces.insert(pieces.end(), extra.begin(), extra.end());
  std::string out;
  append<uint32_t>(out, 16);
  float score = 0;
  for (const std::string& p : pieces) {
    append<float>(out, score -= 0.5f);
    append<int32_t>(out, (int32_t)p.size());
    out += p;
  }
  *size = (int)pieces.size();
  return out;
}

void llama2c() {
  int vocab_size = 0;
  const std::string vocab =
      llama2c_vocab({" ", "e", "h", "l", "o", " h", "he", "ll", "llo", " hello", "\xe2\x98\x83"}, &vocab_size);
  int n = 0;
  for (const char* text : {"hello hello", "\xe2\x98\x83 caf\xc3\xa9\x01\xff", ""}) {
    ++n;
    for (uint8_t flags : {0, 2}) {
      std::string in;
      append<uint8_t>(in, flags);
      append<uint16_t>(in, (uint16_t)vocab_size);
      append<uint32_t>(in, (uint32_t)vocab.size());
      in += vocab + text;
      put("tokenizer", "llama2c_" + std::to_string(n) + "_" + std::to_string(flags), in);
    }
  }
  // Checkpoints: dim 8, hidden 16, 1 layer, 2 heads; shared and separate classifier.
  for (int kv : {2, 1}) {
    for (bool shared : {true, false}) {
      const int32_t d = 8, hd = 16, L = 1, H = 2, V = 32, T = 8;
      std::string b;
      for (int32_t x : {d, hd, L, H, kv, shared ? V : -V, T}) append<int32_t>(b, x);
      const int head = d / H, kvd = kv * head;
      const long floats = (long)V * d + L * d + L * d * d + 2L * L * kvd * d + L * d * d + L * d + 3L * L * hd * d +
                          d + (long)T * head + (shared ? 0 : (long)V * d);
      for (long i = 0; i < floats; ++i) append<float>(b, 0.01f * std::sin((float)i));
      put("llama2c", "d8_kv" + std::to_string(kv) + (shared ? "_shared.bin" : "_classifier.bin"), b);
    }
  }
}

std::string bytes_of(grpc::ByteBuffer buf) {
  std::vector<grpc::Slice> slices;
  (void)buf.Dump(&slices);
  std::string s;
  for (const grpc::Slice& sl : slices) s.append(reinterpret_cast<const char*>(sl.begin()), sl.size());
  return s;
}

void wire_messages() {
  Message m;
  m.type = MsgType::kAttnRows;
  m.from = {Role::kComp, 1};
  m.to = {Role::kAttn, 5};
  m.session = 0x1234;
  m.step = 3;
  m.layer = 2;
  m.pos = {4, 5};
  m.rows = std::vector<float>(2 * 8, 0.5f);
  m.kv_pos = {4, 5};
  m.k = std::vector<float>(2 * 4, 1.0f);
  m.v = std::vector<float>(2 * 4, -1.0f);
  m.lse = {0.1f, 0.2f};
  put("wire", "attn_rows", std::string(1, '\0') + bytes_of(encode_link(m)));
  put("wire", "attn_rows_3slices", std::string(1, '\4') + bytes_of(encode_link(m)));
  Message begin;
  begin.type = MsgType::kStepBegin;
  begin.to = {Role::kComp, 0};
  begin.pos_begin = 0;
  begin.pos_end = 7;
  begin.flags = kWantAllRows;
  put("wire", "step_begin", std::string(1, '\2') + bytes_of(encode_link(begin)));
  Message err;
  err.type = MsgType::kError;
  err.from = {Role::kAttn, 0};
  err.text = "attn(0,0) failed";
  put("wire", "error", std::string(1, '\0') + bytes_of(encode_link(err)));

  wire::SessionSetup setup;
  setup.set_session(42);
  PlanSpec spec;
  spec.alpha = 2;
  spec.beta = 3;
  to_wire(spec, setup.mutable_plan());
  ModelConfig cfg;
  cfg.dim = 64, cfg.hidden_dim = 128, cfg.n_layers = 4, cfg.n_heads = 4, cfg.n_kv_heads = 4, cfg.head_dim = 16;
  cfg.vocab_size = 320, cfg.context_length = 128;
  to_wire(cfg, setup.mutable_dims());
  to_wire(NodeId{Role::kAttn, 4}, setup.mutable_self());
  auto peer = [&setup](NodeId id, const std::string& addr) {
    auto* p = setup.add_peers();
    to_wire(id, p->mutable_id());
    p->set_address(addr);
  };
  peer({Role::kClient, 0}, "127.0.0.1:7000");
  for (int r = 0; r < 2; ++r) peer({Role::kComp, r}, "127.0.0.1:" + std::to_string(7001 + r));
  for (int i = 0; i < 9; ++i) peer({Role::kAttn, i}, "127.0.0.1:" + std::to_string(7010 + i));
  put("wire", "session_setup", std::string(1, '\1') + setup.SerializeAsString());
  spec.protocol = Protocol::kPaper;
  spec.c = 0;
  to_wire(spec, setup.mutable_plan());
  put("wire", "session_setup_paper", std::string(1, '\3') + setup.SerializeAsString());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_make_seeds OUT_DIR\n");
    return 2;
  }
  g_out = argv[1];
  try {
    gguf_models();
    gguf_vocabs();
    llama2c();
    wire_messages();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz_make_seeds: %s\n", e.what());
    return 1;
  }
  return 0;
}
