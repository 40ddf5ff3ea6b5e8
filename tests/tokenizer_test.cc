// Tests for the tokenizers (llama2.c, SentencePiece, GPT-2 BPE), the UTF-8
// stream decoder and the sampler. Golden ids come from llama2.c run.c with the
// stories260K tok512.bin (../shared/models/stories260K/golden.json).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <algorithm>
#include <functional>
#include <set>
#include <nlohmann/json.hpp>

#include "tests/test_util.h"
#include "tokenizer/llama2c_vocab.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/sampler.h"
#include "tokenizer/stream_decoder.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

namespace cascade {
namespace {

using nlohmann::json;

const json& golden() {
  static const json g = [] {
    std::ifstream in(testing::shared_path("models/stories260K/golden.json"));
    return json::parse(in);
  }();
  return g;
}

const Vocab& tok512() {
  static const Vocab v = read_llama2c_vocab(testing::shared_path("models/stories260K/tok512.bin"), 512);
  return v;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string write_temp(const std::string& name, const std::string& bytes) {
  const std::string path = testing::temp_dir() + "/" + name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

// tok512.bin as llama.cpp's converter turns it into a GGUF "llama" vocab.
Vocab tok512_as_sentencepiece() {
  Vocab v = tok512();
  v.kind = VocabKind::kSentencePiece;
  for (size_t id = 0; id < v.tokens.size(); ++id) {
    std::string piece;
    for (char c : v.tokens[id]) piece += c == ' ' ? std::string("\xE2\x96\x81") : std::string(1, c);
    v.tokens[id] = piece;
    TokenType t = id == 0 ? TokenType::kUnknown
                 : id <= 2 ? TokenType::kControl
                 : id <= 258 ? TokenType::kByte
                             : TokenType::kNormal;
    v.token_types[id] = static_cast<int32_t>(t);
  }
  v.tokens[0] = "<unk>";
  v.tokens[1] = "<s>";
  v.tokens[2] = "</s>";
  return v;
}

std::vector<int> ids_of(const json& j) { return j.get<std::vector<int>>(); }

// Texts beyond the golden ones on which run.c's and llama.cpp's algorithms
// must agree for this vocab.
const std::vector<std::string> kExtraTexts = {
    "a", " ", "  leading spaces", "trailing  ", "tabs\tand\nnew\n\nlines", "x  y   z",
    "Lily's mom said, \"Lily, let's go to the park.\"", "ümlaut Ωmega 日本語 🙂", "1234567890",
};

// ---------------------------------------------------------------------------
// read_llama2c_vocab

TEST(Llama2cVocab, ReadsTok512) {
  const Vocab& v = tok512();
  EXPECT_EQ(v.kind, VocabKind::kLlama2c);
  ASSERT_EQ(v.tokens.size(), 512u);
  ASSERT_EQ(v.scores.size(), 512u);
  EXPECT_EQ(v.bos_id, 1);
  EXPECT_EQ(v.eos_id, 2);
  EXPECT_EQ(v.unk_id, 0);
  EXPECT_EQ(v.max_token_length, 7);
  EXPECT_EQ(v.tokens[1], "\n<s>\n");
  EXPECT_EQ(v.tokens[2], "\n</s>\n");
  EXPECT_EQ(v.tokens[3], "<0x00>");
  EXPECT_EQ(v.tokens[258], "<0xFF>");
  EXPECT_EQ(v.tokens[410], " ");
  EXPECT_EQ(v.token_types[0], static_cast<int32_t>(TokenType::kUnknown));
  EXPECT_EQ(v.token_types[1], static_cast<int32_t>(TokenType::kControl));
  EXPECT_EQ(v.token_types[100], static_cast<int32_t>(TokenType::kByte));
  EXPECT_EQ(v.token_types[300], static_cast<int32_t>(TokenType::kNormal));
}

void expect_error(const std::function<void()>& f, const std::string& fragment) {
  try {
    f();
    ADD_FAILURE() << "no cascade::Error; expected one mentioning \"" << fragment << "\"";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(fragment), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << "multi-line message: " << what;
  }
}

TEST(Llama2cVocab, RejectsBadFiles) {
  const std::string good = read_file(testing::shared_path("models/stories260K/tok512.bin"));
  ASSERT_EQ(good.size(), 6227u);

  expect_error([] { read_llama2c_vocab("/nonexistent/tok.bin", 512); }, "cannot open");
  expect_error([&] { read_llama2c_vocab(write_temp("empty.bin", ""), 512); }, "truncated");
  expect_error([&] { read_llama2c_vocab(write_temp("cut.bin", good.substr(0, 3000)), 512); },
               "truncated");
  expect_error([&] { read_llama2c_vocab(write_temp("good.bin", good), 513); }, "truncated");
  expect_error([&] { read_llama2c_vocab(write_temp("good.bin", good), 511); }, "more pieces");
  expect_error([&] { read_llama2c_vocab(write_temp("good.bin", good), 0); }, "vocab_size");
  expect_error([&] { read_llama2c_vocab(write_temp("good.bin", good), -5); }, "vocab_size");

  // Piece 0 starts at byte 4: float score, then int32 len.
  const auto with_len = [&](int32_t len) {
    std::string b = good;
    std::memcpy(b.data() + 8, &len, 4);
    return b;
  };
  expect_error([&] { read_llama2c_vocab(write_temp("neg.bin", with_len(-1)), 512); }, "length -1");
  expect_error([&] { read_llama2c_vocab(write_temp("huge.bin", with_len(1 << 30)), 512); }, "length");

  std::string bad_header = good;
  const uint32_t zero = 0;
  std::memcpy(bad_header.data(), &zero, 4);
  expect_error([&] { read_llama2c_vocab(write_temp("hdr.bin", bad_header), 512); }, "max_token_length");

  std::string nan_score = good;
  const float nan = std::nanf("");
  std::memcpy(nan_score.data() + 4, &nan, 4);
  expect_error([&] { read_llama2c_vocab(write_temp("nan.bin", nan_score), 512); }, "not finite");
}

// ---------------------------------------------------------------------------
// kLlama2c: run.c encode/decode

TEST(Llama2cTokenizer, EncodeMatchesRunC) {
  const Tokenizer tok(tok512());
  for (const json& c : golden()["tok512_encode_runc"]["cases"]) {
    const std::string text = c["text"];
    EXPECT_EQ(tok.encode(text, true), ids_of(c["ids"])) << "text: " << text;
  }
  EXPECT_TRUE(tok.encode("", false).empty());
  EXPECT_EQ(tok.encode("Once upon a time", false), (std::vector<int>{403, 407, 261, 378}));
}

TEST(Llama2cTokenizer, ForwardPromptEncodesToGoldenIds) {
  const Tokenizer tok(tok512());
  for (const json& c : golden()["cases"]) {
    if (!c.contains("prompt_text")) continue;
    EXPECT_EQ(tok.encode(c["prompt_text"], true), ids_of(c["prompt_ids"]));
  }
}

TEST(Llama2cTokenizer, DecodeGreedy100IsPrefixOfReferenceText) {
  const Tokenizer tok(tok512());
  const std::vector<int> ids = ids_of(golden()["empty_prompt_greedy_100"]["ids"]);
  std::string text;
  int prev = 1;  // the prompt was [BOS]
  for (int id : ids) {
    text += tok.decode(prev, id);
    prev = id;
  }
  const std::string reference = golden()["reference_text"]["n200_from_bos"];
  ASSERT_GT(text.size(), 200u);
  EXPECT_EQ(reference.compare(0, text.size(), text), 0) << text;
  EXPECT_EQ(text, golden()["empty_prompt_greedy_100"]["decoded_tok512"]);

  std::vector<int> with_bos = {1};
  with_bos.insert(with_bos.end(), ids.begin(), ids.end());
  EXPECT_EQ(tok.decode(with_bos), text);
}

TEST(Llama2cTokenizer, DecodeGoldenGreedyIds) {
  const Tokenizer tok(tok512());
  for (const json& c : golden()["cases"]) {
    const std::vector<int> prompt = ids_of(c["prompt_ids"]);
    std::string text;
    int prev = prompt.back();
    for (int id : ids_of(c["greedy_ids"])) {
      text += tok.decode(prev, id);
      prev = id;
    }
    // The golden text was joined without the leading space; compare trimmed.
    const std::string expected = c["greedy_decoded_tok512"];
    const size_t start = text.find_first_not_of(' ');
    EXPECT_EQ(text.substr(start), expected) << c["name"];
  }
}

TEST(Llama2cTokenizer, DecodeRules) {
  const Tokenizer tok(tok512());
  EXPECT_EQ(tok.decode(-1, 403), " Once");
  EXPECT_EQ(tok.decode(1, 403), "Once");  // leading space dropped after BOS
  EXPECT_EQ(tok.decode(1, 13), "\n");     // <0x0A>
  EXPECT_EQ(tok.decode(5, 258), "\xFF");  // raw byte, even when not UTF-8
  EXPECT_EQ(tok.decode(-1, 1), "");       // BOS / EOS are not text
  EXPECT_EQ(tok.decode(-1, 2), "");
  EXPECT_EQ(tok.decode(-1, 0), "<unk>");
  EXPECT_THROW(tok.decode(-1, 512), Error);
  EXPECT_THROW(tok.decode(-1, -1), Error);
  EXPECT_EQ(tok.bos(), 1);
  EXPECT_EQ(tok.eos(), 2);
  EXPECT_EQ(tok.vocab_size(), 512);
}

TEST(Llama2cTokenizer, RoundTrips) {
  const Tokenizer tok(tok512());
  std::vector<std::string> texts = kExtraTexts;
  for (const json& c : golden()["tok512_encode_runc"]["cases"]) texts.push_back(c["text"]);
  texts.push_back(std::string("bad \xFF\xC3 bytes \x80"));
  for (const std::string& text : texts) {
    EXPECT_EQ(tok.decode(tok.encode(text, true)), text) << text;
  }
}

TEST(Llama2cTokenizer, LongPromptIsFast) {
  const Tokenizer tok(tok512());
  std::string text;
  for (int i = 0; i < 200; ++i) text += "Once upon a time, there was a little girl named Lily. ";
  const std::vector<int> ids = tok.encode(text, true);
  EXPECT_GT(ids.size(), 2000u);
  EXPECT_EQ(tok.decode(ids), text);
}

// ---------------------------------------------------------------------------
// kSentencePiece (llama.cpp SPM) on the same vocab

TEST(SentencePieceTokenizer, MatchesRunCOnGoldenAndExtraTexts) {
  const Tokenizer spm(tok512_as_sentencepiece());
  const Tokenizer runc(tok512());
  for (const json& c : golden()["tok512_encode_runc"]["cases"]) {
    const std::string text = c["text"];
    EXPECT_EQ(spm.encode(text, true), ids_of(c["ids"])) << text;
  }
  for (const std::string& text : kExtraTexts) {
    EXPECT_EQ(spm.encode(text, true), runc.encode(text, true)) << text;
  }
}

TEST(SentencePieceTokenizer, DecodeRoundTripsAndRules) {
  const Tokenizer spm(tok512_as_sentencepiece());
  std::vector<std::string> texts = kExtraTexts;
  for (const json& c : golden()["tok512_encode_runc"]["cases"]) texts.push_back(c["text"]);
  for (const std::string& text : texts) {
    EXPECT_EQ(spm.decode(spm.encode(text, true)), text) << text;
  }
  EXPECT_EQ(spm.decode(-1, 403), " Once");
  EXPECT_EQ(spm.decode(1, 403), "Once");
  EXPECT_EQ(spm.decode(-1, 1), "");
  EXPECT_EQ(spm.decode(-1, 2), "");
  EXPECT_EQ(spm.decode(-1, 3 + 0xE2), "\xE2");
  EXPECT_EQ(spm.decode(ids_of(golden()["empty_prompt_greedy_100"]["ids"])).substr(1),
            golden()["empty_prompt_greedy_100"]["decoded_tok512"]);
}

TEST(SentencePieceTokenizer, NoSpacePrefixWhenDisabled) {
  Vocab v = tok512_as_sentencepiece();
  v.add_space_prefix = false;
  const Tokenizer spm(std::move(v));
  const std::vector<int> ids = spm.encode("Once", false);
  EXPECT_EQ(spm.decode(ids), "Once");
  EXPECT_NE(ids, spm.encode(" Once", false));
}

TEST(TokenizerValidation, RejectsBadVocabs) {
  Vocab empty;
  EXPECT_THROW(Tokenizer{empty}, Error);
  Vocab v = tok512();
  v.scores.pop_back();
  EXPECT_THROW(Tokenizer{v}, Error);
  v = tok512();
  v.bos_id = 512;
  EXPECT_THROW(Tokenizer{v}, Error);
  v = tok512();
  v.token_types.resize(3);
  EXPECT_THROW(Tokenizer{v}, Error);
}

// ---------------------------------------------------------------------------
// kGPT2BPE

std::string gpt2_char(unsigned char b) {
  // bytes_to_unicode, written out independently of the implementation.
  int n = 0;
  for (int x = 0; x < 256; ++x) {
    const bool printable = (x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174);
    if (x == b) {
      const uint32_t cp = printable ? x : 256 + n;
      std::string s;
      if (cp < 0x80) s += static_cast<char>(cp);
      else {
        s += static_cast<char>(0xC0 | (cp >> 6));
        s += static_cast<char>(0x80 | (cp & 0x3F));
      }
      return s;
    }
    if (!printable) ++n;
  }
  return "";
}

// 256 byte tokens, a few merges, and the specials at the end.
Vocab tiny_gpt2_vocab(const std::string& pre = "") {
  Vocab v;
  v.kind = VocabKind::kGPT2BPE;
  v.pre = pre;
  for (int b = 0; b < 256; ++b) v.tokens.push_back(gpt2_char(static_cast<unsigned char>(b)));
  const std::string G = gpt2_char(' ');  // "Ġ"
  v.merges = {"h e", "l l", "he ll", "hell o", G + " w", "o r", G + "w or", G + "wor l", G + "worl d",
              "1 2", "12 3", "' s", "o " + G};
  for (const std::string& m : v.merges) {
    std::string merged = m;
    merged.erase(merged.find(' '), 1);
    v.tokens.push_back(merged);
  }
  v.tokens.push_back("<|endoftext|>");
  v.token_types.assign(v.tokens.size(), static_cast<int32_t>(TokenType::kNormal));
  v.token_types.back() = static_cast<int32_t>(TokenType::kControl);
  v.bos_id = v.eos_id = static_cast<int>(v.tokens.size()) - 1;
  v.add_bos = false;
  return v;
}

// Expected splits for each pre-tokenizer (scripts/pretokenizer_cases.py
// prints this table). They were computed with Python's
// `regex` module (which knows \p{L}, \p{N}, \p{Lu}...) running the published
// patterns as llama.cpp's src/llama-vocab.cpp lists them (copied there from
// each model's tokenizer.json): GPT-2's, Llama 3's (llama-bpe), Qwen2's,
// SmolLM's (\p{N} then GPT-2's), DeepSeek LLM's six-step sequence, tekken's
// and llama.cpp's "default"; each step splits every piece of the step before
// and keeps the text between matches (HF's Split(behavior="Isolated")). The
// first three texts are the Qwen2 cases the issue names ("y'all" gives
// "'all", five spaces + newline stay together, "4 ½" splits the space off).
struct SplitCase {
  const char* pre;
  std::string text;
  std::vector<std::string> chunks;
};
const std::vector<SplitCase> kSplitCases = {
    // gpt-2
    {"gpt-2", "y'all", {"y", "'", "all"}},
    {"gpt-2", "     \nx", {"     ", "\n", "x"}},
    {"gpt-2", "4 ½", {"4", " ½"}},
    {"gpt-2", "1234567 89", {"1234567", " 89"}},
    {"gpt-2", "DON'T you've I'M she'LL", {"DON", "'", "T", " you", "'ve", " I", "'", "M", " she", "'", "LL"}},
    {"gpt-2", "Hello world's 123  foo!!\n\nbar", {"Hello", " world", "'s", " 123", " ", " foo", "!!", "\n", "\n", "bar"}},
    {"gpt-2", "café naïve 日本語 한국어", {"café", " naïve", " 日本語", " 한국어"}},
    {"gpt-2", " \t\tx  ", {" \t", "\t", "x", "  "}},
    {"gpt-2", "HeLLo WORLDs McDonald's", {"HeLLo", " WORLDs", " McDonald", "'s"}},
    {"gpt-2", "a/b//c\n/ d", {"a", "/", "b", "//", "c", "\n", "/", " d"}},
    {"gpt-2", "3.14159, $5+x=<y>", {"3", ".", "14159", ",", " $", "5", "+", "x", "=<", "y", ">"}},
    {"gpt-2", "\n\n\n", {"\n\n\n"}},
    {"gpt-2", "ǅungla ǈ", {"ǅungla", " ǈ"}},
    {"gpt-2", "αβγ ΑΒΓ Ωmega", {"αβγ", " ΑΒΓ", " Ωmega"}},
    {"gpt-2", "x\xCC\x83y \xCC\x83", {"x", "\xCC\x83", "y", " \xCC\x83"}},
    {"gpt-2", "🙂!! ok", {"🙂!!", " ok"}},
    {"gpt-2", "  leading", {" ", " leading"}},
    {"gpt-2", "(hi) x  \n\n  y", {"(", "hi", ")", " x", "  \n\n ", " y"}},
    {"gpt-2", "\r\n\r\nz", {"\r\n\r", "\n", "z"}},
    // llama-bpe
    {"llama-bpe", "y'all", {"y", "'all"}},
    {"llama-bpe", "     \nx", {"     \n", "x"}},
    {"llama-bpe", "4 ½", {"4", " ", "½"}},
    {"llama-bpe", "1234567 89", {"123", "456", "7", " ", "89"}},
    {"llama-bpe", "DON'T you've I'M she'LL", {"DON", "'T", " you", "'ve", " I", "'M", " she", "'LL"}},
    {"llama-bpe", "Hello world's 123  foo!!\n\nbar", {"Hello", " world", "'s", " ", "123", " ", " foo", "!!\n\n", "bar"}},
    {"llama-bpe", "café naïve 日本語 한국어", {"café", " naïve", " 日本語", " 한국어"}},
    {"llama-bpe", " \t\tx  ", {" \t", "\tx", "  "}},
    {"llama-bpe", "HeLLo WORLDs McDonald's", {"HeLLo", " WORLDs", " McDonald", "'s"}},
    {"llama-bpe", "a/b//c\n/ d", {"a", "/b", "//", "c", "\n", "/", " d"}},
    {"llama-bpe", "3.14159, $5+x=<y>", {"3", ".", "141", "59", ",", " $", "5", "+x", "=<", "y", ">"}},
    {"llama-bpe", "\n\n\n", {"\n\n\n"}},
    {"llama-bpe", "ǅungla ǈ", {"ǅungla", " ǈ"}},
    {"llama-bpe", "αβγ ΑΒΓ Ωmega", {"αβγ", " ΑΒΓ", " Ωmega"}},
    {"llama-bpe", "x\xCC\x83y \xCC\x83", {"x", "\xCC\x83y", " \xCC\x83"}},
    {"llama-bpe", "🙂!! ok", {"🙂!!", " ok"}},
    {"llama-bpe", "  leading", {" ", " leading"}},
    {"llama-bpe", "(hi) x  \n\n  y", {"(hi", ")", " x", "  \n\n", " ", " y"}},
    {"llama-bpe", "\r\n\r\nz", {"\r\n\r\n", "z"}},
    // qwen2
    {"qwen2", "y'all", {"y", "'all"}},
    {"qwen2", "     \nx", {"     \n", "x"}},
    {"qwen2", "4 ½", {"4", " ", "½"}},
    {"qwen2", "1234567 89", {"1", "2", "3", "4", "5", "6", "7", " ", "8", "9"}},
    {"qwen2", "DON'T you've I'M she'LL", {"DON", "'T", " you", "'ve", " I", "'M", " she", "'LL"}},
    {"qwen2", "Hello world's 123  foo!!\n\nbar", {"Hello", " world", "'s", " ", "1", "2", "3", " ", " foo", "!!\n\n", "bar"}},
    {"qwen2", "café naïve 日本語 한국어", {"café", " naïve", " 日本語", " 한국어"}},
    {"qwen2", " \t\tx  ", {" \t", "\tx", "  "}},
    {"qwen2", "HeLLo WORLDs McDonald's", {"HeLLo", " WORLDs", " McDonald", "'s"}},
    {"qwen2", "a/b//c\n/ d", {"a", "/b", "//", "c", "\n", "/", " d"}},
    {"qwen2", "3.14159, $5+x=<y>", {"3", ".", "1", "4", "1", "5", "9", ",", " $", "5", "+x", "=<", "y", ">"}},
    {"qwen2", "\n\n\n", {"\n\n\n"}},
    {"qwen2", "ǅungla ǈ", {"ǅungla", " ǈ"}},
    {"qwen2", "αβγ ΑΒΓ Ωmega", {"αβγ", " ΑΒΓ", " Ωmega"}},
    {"qwen2", "x\xCC\x83y \xCC\x83", {"x", "\xCC\x83y", " \xCC\x83"}},
    {"qwen2", "🙂!! ok", {"🙂!!", " ok"}},
    {"qwen2", "  leading", {" ", " leading"}},
    {"qwen2", "(hi) x  \n\n  y", {"(hi", ")", " x", "  \n\n", " ", " y"}},
    {"qwen2", "\r\n\r\nz", {"\r\n\r\n", "z"}},
    // smollm
    {"smollm", "y'all", {"y", "'", "all"}},
    {"smollm", "     \nx", {"     ", "\n", "x"}},
    {"smollm", "4 ½", {"4", " ", "½"}},
    {"smollm", "1234567 89", {"1", "2", "3", "4", "5", "6", "7", " ", "8", "9"}},
    {"smollm", "DON'T you've I'M she'LL", {"DON", "'", "T", " you", "'ve", " I", "'", "M", " she", "'", "LL"}},
    {"smollm", "Hello world's 123  foo!!\n\nbar", {"Hello", " world", "'s", " ", "1", "2", "3", " ", " foo", "!!", "\n", "\n", "bar"}},
    {"smollm", "café naïve 日本語 한국어", {"café", " naïve", " 日本語", " 한국어"}},
    {"smollm", " \t\tx  ", {" \t", "\t", "x", "  "}},
    {"smollm", "HeLLo WORLDs McDonald's", {"HeLLo", " WORLDs", " McDonald", "'s"}},
    {"smollm", "a/b//c\n/ d", {"a", "/", "b", "//", "c", "\n", "/", " d"}},
    {"smollm", "3.14159, $5+x=<y>", {"3", ".", "1", "4", "1", "5", "9", ",", " $", "5", "+", "x", "=<", "y", ">"}},
    {"smollm", "\n\n\n", {"\n\n\n"}},
    {"smollm", "ǅungla ǈ", {"ǅungla", " ǈ"}},
    {"smollm", "αβγ ΑΒΓ Ωmega", {"αβγ", " ΑΒΓ", " Ωmega"}},
    {"smollm", "x\xCC\x83y \xCC\x83", {"x", "\xCC\x83", "y", " \xCC\x83"}},
    {"smollm", "🙂!! ok", {"🙂!!", " ok"}},
    {"smollm", "  leading", {" ", " leading"}},
    {"smollm", "(hi) x  \n\n  y", {"(", "hi", ")", " x", "  \n\n ", " y"}},
    {"smollm", "\r\n\r\nz", {"\r\n\r", "\n", "z"}},
    // deepseek-llm
    {"deepseek-llm", "y'all", {"y", "'", "all"}},
    {"deepseek-llm", "     \nx", {"     ", "\n", "x"}},
    {"deepseek-llm", "4 ½", {"4", " ", "½"}},
    {"deepseek-llm", "1234567 89", {"1234567", " ", "89"}},
    {"deepseek-llm", "DON'T you've I'M she'LL", {"DON", "'", "T", " you", "'", "ve", " I", "'", "M", " she", "'", "LL"}},
    {"deepseek-llm", "Hello world's 123  foo!!\n\nbar", {"Hello", " world", "'", "s", " ", "123", " ", " foo", "!!", "\n", "\n", "bar"}},
    {"deepseek-llm", "café naïve 日本語 한국어", {"caf", "é", " na", "ï", "ve", " ", "日本語", " ", "한국어"}},
    {"deepseek-llm", " \t\tx  ", {" \t", "\tx", "  "}},
    {"deepseek-llm", "HeLLo WORLDs McDonald's", {"HeLLo", " WORLDs", " McDonald", "'", "s"}},
    {"deepseek-llm", "a/b//c\n/ d", {"a", "/", "b", "//", "c", "\n", "/", " d"}},
    {"deepseek-llm", "3.14159, $5+x=<y>", {"3", ".", "14159", ",", " $", "5", "+", "x", "=<", "y", ">"}},
    {"deepseek-llm", "\n\n\n", {"\n", "\n", "\n"}},
    {"deepseek-llm", "ǅungla ǈ", {"ǅ", "ungla", " ǈ"}},
    {"deepseek-llm", "αβγ ΑΒΓ Ωmega", {"αβγ", " ΑΒΓ", " Ω", "mega"}},
    {"deepseek-llm", "x\xCC\x83y \xCC\x83", {"x", "\xCC\x83", "y", " \xCC\x83"}},
    {"deepseek-llm", "🙂!! ok", {"🙂", "!!", " ok"}},
    {"deepseek-llm", "  leading", {" ", " leading"}},
    {"deepseek-llm", "(hi) x  \n\n  y", {"(", "hi", ")", " x", "  ", "\n", "\n", " ", " y"}},
    {"deepseek-llm", "\r\n\r\nz", {"\r", "\n", "\r", "\n", "z"}},
    // tekken
    {"tekken", "y'all", {"y", "'all"}},
    {"tekken", "     \nx", {"     \n", "x"}},
    {"tekken", "4 ½", {"4", " ", "½"}},
    {"tekken", "1234567 89", {"1", "2", "3", "4", "5", "6", "7", " ", "8", "9"}},
    {"tekken", "DON'T you've I'M she'LL", {"DON", "'T", " you", "'ve", " I", "'M", " she", "'LL"}},
    {"tekken", "Hello world's 123  foo!!\n\nbar", {"Hello", " world", "'s", " ", "1", "2", "3", " ", " foo", "!!\n\n", "bar"}},
    {"tekken", "café naïve 日本語 한국어", {"café", " naïve", " 日本語", " 한국어"}},
    {"tekken", " \t\tx  ", {" \t", "\tx", "  "}},
    {"tekken", "HeLLo WORLDs McDonald's", {"He", "LLo", " WORLDs", " Mc", "Donald", "'s"}},
    {"tekken", "a/b//c\n/ d", {"a", "/b", "//", "c", "\n", "/", " d"}},
    {"tekken", "3.14159, $5+x=<y>", {"3", ".", "1", "4", "1", "5", "9", ",", " $", "5", "+x", "=<", "y", ">"}},
    {"tekken", "\n\n\n", {"\n\n\n"}},
    {"tekken", "ǅungla ǈ", {"ǅungla", " ǈ"}},
    {"tekken", "αβγ ΑΒΓ Ωmega", {"αβγ", " ΑΒΓ", " Ωmega"}},
    {"tekken", "x\xCC\x83y \xCC\x83", {"x\xCC\x83y", " \xCC\x83"}},
    {"tekken", "🙂!! ok", {"🙂!!", " ok"}},
    {"tekken", "  leading", {" ", " leading"}},
    {"tekken", "(hi) x  \n\n  y", {"(hi", ")", " x", "  \n\n", " ", " y"}},
    {"tekken", "\r\n\r\nz", {"\r\n\r\n", "z"}},
    // default
    {"default", "y'all", {"y", "'", "all"}},
    {"default", "     \nx", {"     ", "\n", "x"}},
    {"default", "4 ½", {"4", " ", "½"}},
    {"default", "1234567 89", {"123", "456", "7", " ", "89"}},
    {"default", "DON'T you've I'M she'LL", {"DON", "'", "T", " you", "'", "ve", " I", "'", "M", " she", "'", "LL"}},
    {"default", "Hello world's 123  foo!!\n\nbar", {"Hello", " world", "'", "s", " ", "123", " ", " foo", "!!", "\n", "\n", "bar"}},
    {"default", "café naïve 日本語 한국어", {"café", " naïve", " 日本語", " 한국어"}},
    {"default", " \t\tx  ", {" \t", "\t", "x", "  "}},
    {"default", "HeLLo WORLDs McDonald's", {"HeLLo", " WORLDs", " McDonald", "'", "s"}},
    {"default", "a/b//c\n/ d", {"a", "/", "b", "//", "c", "\n", "/", " d"}},
    {"default", "3.14159, $5+x=<y>", {"3", ".", "141", "59", ",", " ", "$", "5", "+", "x", "=<", "y", ">"}},
    {"default", "\n\n\n", {"\n\n\n"}},
    {"default", "ǅungla ǈ", {"ǅungla", " ǈ"}},
    {"default", "αβγ ΑΒΓ Ωmega", {"αβγ", " ΑΒΓ", " Ωmega"}},
    {"default", "x\xCC\x83y \xCC\x83", {"x", "\xCC\x83", "y", " \xCC\x83"}},
    {"default", "🙂!! ok", {"🙂", "!!", " ok"}},
    {"default", "  leading", {" ", " leading"}},
    {"default", "(hi) x  \n\n  y", {"(", "hi", ")", " x", "  \n\n ", " y"}},
    {"default", "\r\n\r\nz", {"\r\n\r", "\n", "z"}},
};

std::vector<std::string> chunks(const std::string& text, PreTokenizer pre) {
  std::vector<std::string> out;
  for (std::string_view c : pretokenize(text, pre)) out.emplace_back(c);
  return out;
}

TEST(PreTokenizer, ReferenceSplits) {
  std::set<std::string> pres;
  for (const SplitCase& c : kSplitCases) {
    EXPECT_EQ(chunks(c.text, pre_tokenizer_from_name(c.pre).split), c.chunks)
        << "pre=" << c.pre << " text=" << c.text;
    pres.insert(c.pre);
  }
  EXPECT_EQ(pres.size(), 7u);
  EXPECT_TRUE(chunks("", PreTokenizer::kTekken).empty());
}

TEST(PreTokenizer, NamesAndDefaults) {
  EXPECT_EQ(pre_tokenizer_from_name("").split, PreTokenizer::kGpt2);
  EXPECT_EQ(pre_tokenizer_from_name("llama3").split, PreTokenizer::kLlama3);
  EXPECT_TRUE(pre_tokenizer_from_name("llama-bpe").add_bos);
  EXPECT_TRUE(pre_tokenizer_from_name("llama-bpe").ignore_merges);
  EXPECT_TRUE(pre_tokenizer_from_name("tekken").ignore_merges);
  EXPECT_FALSE(pre_tokenizer_from_name("qwen2").add_bos);
  EXPECT_FALSE(pre_tokenizer_from_name("qwen2").ignore_merges);
  EXPECT_EQ(pre_tokenizer_from_name("starcoder").split, PreTokenizer::kSmolLM);
  expect_error([] { pre_tokenizer_from_name("bogus-bpe"); },
               "pre-tokenizer 'bogus-bpe' (tokenizer.ggml.pre) is not supported; supported: gpt-2");
  Vocab v = tiny_gpt2_vocab("bogus-bpe");
  expect_error([&] { Tokenizer t(v); }, "pre-tokenizer 'bogus-bpe'");
}

// Invalid UTF-8 and long inputs: chunks still cover the text exactly, and
// the matcher stays linear on long runs of one class.
TEST(PreTokenizer, CoversInvalidBytesAndLongRuns) {
  const std::string bad = "ab\xFF\xC3( \xE2\x98 end\x80 12";
  const std::string spaces(50000, ' ');
  const std::string upper(50000, 'A');
  for (const char* pre : {"gpt-2", "llama-bpe", "qwen2", "smollm", "deepseek-llm", "tekken", "default"}) {
    for (const std::string& text : {bad, spaces + "x", upper + "b", spaces + "\n"}) {
      std::string joined;
      for (const std::string& c : chunks(text, pre_tokenizer_from_name(pre).split)) {
        EXPECT_FALSE(c.empty());
        joined += c;
      }
      EXPECT_EQ(joined, text) << pre;
    }
  }
  EXPECT_EQ(chunks(upper + "b", PreTokenizer::kTekken).size(), 1u);  // [Lu]*[Ll]+ takes it all
}

TEST(Gpt2Tokenizer, MergesByRank) {
  const Vocab v = tiny_gpt2_vocab();
  const Tokenizer tok(v);
  const auto id = [&](const std::string& piece) { return tok.find_piece(piece); };
  const std::string G = gpt2_char(' ');
  // "o Ġ" would merge across the chunk boundary; the pre-tokenizer forbids it.
  EXPECT_EQ(tok.encode("hello world", false), (std::vector<int>{id("hello"), id(G + "world")}));
  EXPECT_EQ(tok.encode("1234", false), (std::vector<int>{id("123"), id("4")}));
  EXPECT_EQ(tok.encode("it's", false), (std::vector<int>{id("i"), id("t"), id("'s")}));
  EXPECT_EQ(tok.encode("hi", true), (std::vector<int>{id("h"), id("i")}));  // add_bos is false
  EXPECT_EQ(tok.decode(tok.encode("hello world", true)), "hello world");
  EXPECT_EQ(tok.decode(-1, tok.bos()), "");  // control token
}

TEST(Gpt2Tokenizer, RoundTripsArbitraryBytes) {
  std::string all_bytes;
  for (int b = 0; b < 256; ++b) all_bytes += static_cast<char>(b);
  const std::vector<std::string> texts = {
      "hello world", "emoji 🙂🚀 and CJK 日本語", "invalid \xFF\xFE \xC3( \xE2\x98 end\x80",
      "  spaces\t\r\n\n tabs ", all_bytes, "1234567 numbers 3.14",
  };
  for (const char* pre : {"", "llama-bpe", "qwen2", "smollm", "deepseek-llm", "tekken", "default"}) {
    const Tokenizer tok(tiny_gpt2_vocab(pre));
    for (const std::string& text : texts) {
      EXPECT_EQ(tok.decode(tok.encode(text, false)), text) << "pre=" << pre << " text=" << text;
    }
  }
}

// llama.cpp's llama_tokenize: add_special adds BOS / EOS only as the vocab
// says (tokenizer.ggml.add_bos_token / add_eos_token).
TEST(Tokenizer, BosAndEosFollowTheVocab) {
  Vocab g = tiny_gpt2_vocab();
  const int eot = g.bos_id;
  const std::vector<int> hi = Tokenizer(g).encode("hi", false);
  ASSERT_EQ(hi.size(), 2u);
  EXPECT_EQ(Tokenizer(g).encode("hi", true), hi);
  g.add_bos = true;
  EXPECT_EQ(Tokenizer(g).encode("hi", true), (std::vector<int>{eot, hi[0], hi[1]}));
  EXPECT_EQ(Tokenizer(g).encode("hi", false), hi);
  g.add_eos = true;
  EXPECT_EQ(Tokenizer(g).encode("hi", true), (std::vector<int>{eot, hi[0], hi[1], eot}));
  g.add_bos = false;
  EXPECT_EQ(Tokenizer(g).encode("", true), (std::vector<int>{eot}));

  Vocab spm = tok512_as_sentencepiece();
  const std::vector<int> once = Tokenizer(spm).encode("Once", false);
  EXPECT_EQ(Tokenizer(spm).encode("Once", true).front(), 1);
  spm.add_bos = false;
  EXPECT_EQ(Tokenizer(spm).encode("Once", true), once);

  Vocab l2c = tok512();
  EXPECT_EQ(Tokenizer(l2c).encode("Once", true).front(), 1);
  l2c.add_bos = false;
  EXPECT_NE(Tokenizer(l2c).encode("Once", true).front(), 1);
}

Vocab chat_gpt2_vocab() {
  Vocab v = tiny_gpt2_vocab("qwen2");
  for (const char* t : {"<|im_start|>", "<|im_end|>", "<|im_start|>x"}) {
    v.tokens.push_back(t);
    v.token_types.push_back(static_cast<int32_t>(TokenType::kControl));
  }
  v.tokens.push_back("<tool>");
  v.token_types.push_back(static_cast<int32_t>(TokenType::kUserDefined));
  return v;
}

TEST(Tokenizer, ParsesSpecialTokensInText) {
  const Tokenizer tok(chat_gpt2_vocab());
  const int start = tok.find_piece("<|im_start|>"), end = tok.find_piece("<|im_end|>");
  const int start_x = tok.find_piece("<|im_start|>x"), tool = tok.find_piece("<tool>");
  const auto text_ids = [&](const std::string& t) { return tok.encode(t, false); };
  const auto cat = [](std::vector<std::vector<int>> parts) {
    std::vector<int> out;
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
  };
  const std::string prompt = "<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n";
  EXPECT_EQ(tok.encode(prompt, false, true),
            cat({{start}, text_ids("user\nhello"), {end}, text_ids("\n"), {start}, text_ids("assistant\n")}));
  // Without parse_special the markers are plain text, as user input must be.
  const std::vector<int> plain = tok.encode(prompt, false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), start), 0);
  EXPECT_EQ(tok.decode(plain), prompt);
  // Longer special tokens are cut out first (llama.cpp's order).
  EXPECT_EQ(tok.encode("<|im_start|>xy", false, true), cat({{start_x}, text_ids("y")}));
  // User-defined tokens are matched with or without parse_special.
  EXPECT_EQ(tok.encode("a<tool>b", false), cat({text_ids("a"), {tool}, text_ids("b")}));
  // Specials next to each other, at both ends.
  EXPECT_EQ(tok.encode("<|im_end|><|im_end|>", false, true), (std::vector<int>{end, end}));

  // SentencePiece: the dummy-prefix space comes back after each special.
  const Tokenizer spm(tok512_as_sentencepiece());
  EXPECT_EQ(spm.encode("<s>Once</s>", false, true),
            cat({{1}, spm.encode("Once", false), {2}}));
  EXPECT_EQ(spm.encode("Once<s>upon", true, true),
            cat({spm.encode("Once", true), {1}, spm.encode("upon", false)}));
  EXPECT_NE(spm.encode("<s>Once", false, false).front(), 1);
}

TEST(Gpt2Tokenizer, RejectsMalformedMerges) {
  Vocab v = tiny_gpt2_vocab();
  v.merges.push_back("nospace");
  EXPECT_THROW(Tokenizer{v}, Error);
}

// ---------------------------------------------------------------------------
// StreamDecoder

TEST(StreamDecoder, HoldsBackSplitCharacters) {
  const Tokenizer tok(tok512());
  // "☃" = E2 98 83 as three byte-fallback tokens (byte + 3).
  StreamDecoder dec(tok, 1);
  EXPECT_EQ(dec.push(410), "");  // " " right after BOS: leading space dropped
  EXPECT_EQ(dec.push(3 + 0xE2), "");
  EXPECT_EQ(dec.push(3 + 0x98), "");
  EXPECT_EQ(dec.push(3 + 0x83), "\xE2\x98\x83");
  EXPECT_EQ(dec.push(403), " Once");
  EXPECT_EQ(dec.flush(), "");
}

TEST(StreamDecoder, PassesInvalidBytesAndFlushesTail) {
  const Tokenizer tok(tok512());
  StreamDecoder dec(tok);
  EXPECT_EQ(dec.push(3 + 0xFF), "\xFF");     // never valid: out at once
  EXPECT_EQ(dec.push(3 + 0x80), "\x80");     // stray continuation byte
  EXPECT_EQ(dec.push(3 + 0xF0), "");         // 4-byte lead, held
  EXPECT_EQ(dec.push(3 + 0x9F), "");
  EXPECT_EQ(dec.push(3 + 'A'), "\xF0\x9F" "A");  // broken by ASCII: released raw
  EXPECT_EQ(dec.push(3 + 0xC3), "");
  EXPECT_EQ(dec.flush(), "\xC3");
  EXPECT_EQ(dec.flush(), "");
}

TEST(StreamDecoder, ConcatenationEqualsDecode) {
  const Tokenizer tok(tok512());
  const std::string text = "naïve café ☃ 🙂 Once upon a time";
  const std::vector<int> ids = tok.encode(text, true);
  StreamDecoder dec(tok, ids[0]);
  std::string out;
  for (size_t i = 1; i < ids.size(); ++i) {
    const std::string part = dec.push(ids[i]);
    EXPECT_EQ(incomplete_utf8_tail(part), 0u);
    out += part;
  }
  out += dec.flush();
  EXPECT_EQ(out, text);
}

TEST(StreamDecoder, IncompleteTail) {
  EXPECT_EQ(incomplete_utf8_tail(""), 0u);
  EXPECT_EQ(incomplete_utf8_tail("abc"), 0u);
  EXPECT_EQ(incomplete_utf8_tail("a\xE2"), 1u);
  EXPECT_EQ(incomplete_utf8_tail("a\xE2\x98"), 2u);
  EXPECT_EQ(incomplete_utf8_tail("a\xE2\x98\x83"), 0u);
  EXPECT_EQ(incomplete_utf8_tail("\xF0\x9F\x99"), 3u);
  EXPECT_EQ(incomplete_utf8_tail("\xF0\x9F\x99\x82"), 0u);
  EXPECT_EQ(incomplete_utf8_tail("\x80\x80"), 0u);
  EXPECT_EQ(incomplete_utf8_tail("\xC0"), 0u);
}

// ---------------------------------------------------------------------------
// Sampler

TEST(Sampler, GreedyTiesGoToFirstIndex) {
  Sampler s({});
  const float logits[] = {0.5f, 2.0f, -1.0f, 2.0f, 2.0f};
  EXPECT_EQ(s.sample(logits, 5), 1);
  const float nan_first[] = {std::nanf(""), 1.0f, 3.0f};
  EXPECT_EQ(s.sample(nan_first, 3), 2);
}

TEST(Sampler, GreedyMatchesGoldenArgmax) {
  Sampler s({});
  for (const json& c : golden()["cases"]) {
    const std::vector<float> logits = c["logits_last"].get<std::vector<float>>();
    EXPECT_EQ(s.sample(logits.data(), static_cast<int>(logits.size())), c["greedy_ids"][0].get<int>());
  }
}

std::vector<int> draw(const SamplerConfig& cfg, const std::vector<float>& logits, int n) {
  Sampler s(cfg);
  std::vector<int> out;
  for (int i = 0; i < n; ++i) out.push_back(s.sample(logits.data(), static_cast<int>(logits.size())));
  return out;
}

TEST(Sampler, SameSeedSameSequence) {
  const std::vector<float> logits = {1.0f, 0.5f, 0.2f, 0.9f, -0.3f, 0.0f};
  SamplerConfig cfg{.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .seed = 42};
  EXPECT_EQ(draw(cfg, logits, 200), draw(cfg, logits, 200));
  SamplerConfig other = cfg;
  other.seed = 43;
  EXPECT_NE(draw(cfg, logits, 200), draw(other, logits, 200));
  cfg.seed = 0;  // usable too
  EXPECT_EQ(draw(cfg, logits, 50), draw(cfg, logits, 50));
}

TEST(Sampler, TopK1AndTinyTopPAreGreedy) {
  const std::vector<float> logits = {0.1f, 2.0f, 1.9f, 2.0f, -4.0f};
  for (int seed = 1; seed < 5; ++seed) {
    for (int id : draw({.temperature = 1.5f, .top_k = 1, .top_p = 1.0f, .seed = uint64_t(seed)}, logits, 100))
      ASSERT_EQ(id, 1);
    for (int id : draw({.temperature = 1.5f, .top_k = 0, .top_p = 1e-6f, .seed = uint64_t(seed)}, logits, 100))
      ASSERT_EQ(id, 1);
  }
}

TEST(Sampler, FrequenciesFollowSoftmax) {
  const std::vector<float> logits = {1.0f, 2.0f, 0.0f};
  const float t = 0.8f;
  std::vector<double> p(3);
  double z = 0;
  for (int i = 0; i < 3; ++i) z += p[i] = std::exp(logits[i] / t);
  for (double& x : p) x /= z;

  const int n = 20000;
  std::vector<int> counts(3);
  for (int id : draw({.temperature = t, .top_k = 0, .top_p = 1.0f, .seed = 7}, logits, n)) ++counts[id];
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(counts[i] / double(n), p[i], 0.015) << i;

  // top_k = 2 drops index 2 and renormalises the other two.
  counts.assign(3, 0);
  for (int id : draw({.temperature = t, .top_k = 2, .top_p = 1.0f, .seed = 8}, logits, n)) ++counts[id];
  EXPECT_EQ(counts[2], 0);
  EXPECT_NEAR(counts[1] / double(n), p[1] / (p[0] + p[1]), 0.015);

  // top_p just above p[1] keeps indices 1 and 0.
  counts.assign(3, 0);
  const float top_p = static_cast<float>(p[1] + 0.01);
  for (int id : draw({.temperature = t, .top_k = 0, .top_p = top_p, .seed = 9}, logits, n)) ++counts[id];
  EXPECT_EQ(counts[2], 0);
  EXPECT_NEAR(counts[1] / double(n), p[1] / (p[0] + p[1]), 0.015);
}

TEST(Sampler, TopPOnLargeVocabStaysInNucleus) {
  std::vector<float> logits(32000);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = std::sin(float(i) * 0.37f) * 5.0f;
  const float t = 0.3f, top_p = 0.5f;
  // The nucleus computed directly: most likely first, until the mass reaches top_p.
  std::vector<std::pair<double, int>> probs;
  double z = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    probs.emplace_back(std::exp((logits[i] - 5.0) / t), int(i));
    z += probs.back().first;
  }
  std::sort(probs.begin(), probs.end(), [](auto& a, auto& b) { return a.first > b.first; });
  std::set<int> nucleus;
  double mass = 0;
  for (const auto& [q, id] : probs) {
    nucleus.insert(id);
    if ((mass += q / z) >= top_p) break;
  }
  ASSERT_GT(nucleus.size(), 10u);
  ASSERT_LT(nucleus.size(), logits.size() / 4);
  std::set<int> seen;
  for (int id : draw({.temperature = t, .top_k = 0, .top_p = top_p, .seed = 3}, logits, 300)) {
    ASSERT_TRUE(nucleus.count(id)) << id;
    seen.insert(id);
  }
  EXPECT_GT(seen.size(), 5u);
}

TEST(Sampler, RejectsBadConfigAndInput) {
  EXPECT_THROW(Sampler({.temperature = -0.1f}), Error);
  EXPECT_THROW(Sampler({.temperature = NAN}), Error);
  EXPECT_THROW(Sampler({.temperature = INFINITY}), Error);
  EXPECT_THROW(Sampler({.temperature = 1.0f, .top_k = -1}), Error);
  EXPECT_THROW(Sampler({.temperature = 1.0f, .top_k = 0, .top_p = 0.0f}), Error);
  EXPECT_THROW(Sampler({.temperature = 1.0f, .top_k = 0, .top_p = 1.01f}), Error);
  EXPECT_THROW(Sampler({.temperature = 1.0f, .top_k = 0, .top_p = NAN}), Error);
  Sampler s({});
  const float one = 1.0f;
  EXPECT_THROW(s.sample(&one, 0), Error);
  EXPECT_THROW(s.sample(nullptr, 3), Error);
  EXPECT_EQ(s.sample(&one, 1), 0);
}

}  // namespace
}  // namespace cascade
