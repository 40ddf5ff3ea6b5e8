#include "tokenizer/pretokenizer.h"

#include <unicode/uchar.h>

#include <cstdint>
#include <utility>

#include "tokenizer/utf8.h"
#include "util/error.h"

namespace cascade {
namespace {

// ---------------------------------------------------------------------------
// Characters and their classes

enum Flag : uint16_t {
  kAny = 1 << 0,        // every character, valid UTF-8 or not
  kLetter = 1 << 1,     // \p{L}
  kNumber = 1 << 2,     // \p{N}
  kSpace = 1 << 3,      // \s (White_Space)
  kNewline = 1 << 4,    // [\r\n]
  kUpperish = 1 << 5,   // [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]
  kLowerish = 1 << 6,   // [\p{Ll}\p{Lm}\p{Lo}\p{M}]
  kPunct = 1 << 7,      // \p{P}
  kDsLetter = 1 << 8,   // deepseek-llm's cased-letter list
  kDsPunct = 1 << 9,    // deepseek-llm's [!-/:-~！-／：-～‘-‟　-。]
  kDsCjk = 1 << 10,     // deepseek-llm's [一-龥ࠀ-一가-퟿]
  kAsciiDigit = 1 << 11,  // [0-9]
  kDefaultSym = 1 << 12,  // [$+<=>^~|] (llama.cpp's default split)
};

struct Range {
  uint32_t lo, hi;
};

// deepseek-llm's letter class, as written in its tokenizer.json / llama.cpp's
// llama-vocab.cpp: A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-Ֆ...
// (code points spelled out, so no editor can normalise them away).
constexpr Range kDeepSeekLetters[] = {
    {0x0041, 0x005A}, {0x0061, 0x007A}, {0x00B5, 0x00B5}, {0x00C0, 0x00D6}, {0x00D8, 0x00F6},
    {0x00F8, 0x01BA}, {0x01BC, 0x01BF}, {0x01C4, 0x0293}, {0x0295, 0x02AF}, {0x0370, 0x0373},
    {0x0376, 0x0377}, {0x037B, 0x037D}, {0x037F, 0x037F}, {0x0386, 0x0386}, {0x0388, 0x038A},
    {0x038C, 0x038C}, {0x038E, 0x03A1}, {0x03A3, 0x03F5}, {0x03F7, 0x0481}, {0x048A, 0x052F},
    {0x0531, 0x0556}, {0x10A0, 0x10C5}, {0x13A0, 0x13F5}, {0x13F8, 0x13FD}, {0x1C90, 0x1CBA},
    {0x1CBD, 0x1CBF}, {0x1D00, 0x1D2B}, {0x1D6B, 0x1D77}, {0x1D79, 0x1D9A}, {0x1E00, 0x1F15},
    {0x1F18, 0x1F1D}, {0x1F20, 0x1F45}, {0x1F48, 0x1F4D}, {0x1F50, 0x1F57}, {0x1F59, 0x1F59},
    {0x1F5B, 0x1F5B}, {0x1F5D, 0x1F5D}, {0x1F5F, 0x1F7D}, {0x1F80, 0x1FB4}, {0x1FB6, 0x1FBC},
    {0x1FBE, 0x1FBE}, {0x1FC2, 0x1FC4}, {0x1FC6, 0x1FCC}, {0x1FD0, 0x1FD3}, {0x1FD6, 0x1FDB},
    {0x1FE0, 0x1FEC}, {0x1FF2, 0x1FF4}, {0x1FF6, 0x1FFC}, {0x2102, 0x2102}, {0x2107, 0x2107},
    {0x210A, 0x2113}, {0x2115, 0x2115}, {0x2119, 0x211D}, {0x2124, 0x2124}, {0x2126, 0x2126},
    {0x2128, 0x2128}, {0x212A, 0x212D}, {0x212F, 0x2134}, {0x2139, 0x2139}, {0x213C, 0x213F},
    {0x2145, 0x2149}, {0x214E, 0x214E}, {0x2183, 0x2184}, {0x2C00, 0x2C7B}, {0x2C7E, 0x2CE4},
    {0x2CEB, 0x2CEE}, {0x2CF2, 0x2CF3}, {0xA640, 0xA66D}, {0xA680, 0xA69B}, {0xA722, 0xA76F},
    {0xA771, 0xA787}, {0xA78B, 0xA78E}, {0xAB70, 0xABBF}, {0xFB00, 0xFB06}, {0xFB13, 0xFB17},
    {0xFF21, 0xFF3A}, {0xFF41, 0xFF5A}, {0x10400, 0x1044F}, {0x104B0, 0x104D3}, {0x104D8, 0x104FB},
    {0x10C80, 0x10CB2}, {0x10CC0, 0x10CF2}, {0x118A0, 0x118DF}, {0x1E900, 0x1E943},
};
constexpr Range kDeepSeekPunct[] = {
    {0x21, 0x2F}, {0x3A, 0x7E}, {0xFF01, 0xFF0F}, {0xFF1A, 0xFF5E}, {0x2018, 0x201F}, {0x3000, 0x3002},
};
constexpr Range kDeepSeekCjk[] = {{0x4E00, 0x9FA5}, {0x0800, 0x4E00}, {0xAC00, 0xD7FF}};

template <size_t N>
bool in_ranges(uint32_t cp, const Range (&r)[N]) {
  for (const Range& x : r)
    if (cp >= x.lo && cp <= x.hi) return true;
  return false;
}

uint16_t flags_of(uint32_t cp) {
  uint16_t f = kAny;
  const int8_t cat = u_charType(static_cast<UChar32>(cp));
  switch (cat) {
    case U_UPPERCASE_LETTER: case U_TITLECASE_LETTER: f |= kLetter | kUpperish; break;
    case U_LOWERCASE_LETTER: f |= kLetter | kLowerish; break;
    case U_MODIFIER_LETTER: case U_OTHER_LETTER: f |= kLetter | kUpperish | kLowerish; break;
    case U_NON_SPACING_MARK: case U_ENCLOSING_MARK: case U_COMBINING_SPACING_MARK:
      f |= kUpperish | kLowerish;
      break;
    case U_DECIMAL_DIGIT_NUMBER: case U_LETTER_NUMBER: case U_OTHER_NUMBER: f |= kNumber; break;
    case U_CONNECTOR_PUNCTUATION: case U_DASH_PUNCTUATION: case U_START_PUNCTUATION:
    case U_END_PUNCTUATION: case U_INITIAL_PUNCTUATION: case U_FINAL_PUNCTUATION:
    case U_OTHER_PUNCTUATION:
      f |= kPunct;
      break;
    default: break;
  }
  if (u_hasBinaryProperty(static_cast<UChar32>(cp), UCHAR_WHITE_SPACE)) f |= kSpace;
  if (cp == '\r' || cp == '\n') f |= kNewline;
  if (cp >= '0' && cp <= '9') f |= kAsciiDigit;
  if (cp < 0x80 && std::string_view("$+<=>^~|").find(static_cast<char>(cp)) != std::string_view::npos)
    f |= kDefaultSym;
  if (in_ranges(cp, kDeepSeekLetters)) f |= kDsLetter;
  if (in_ranges(cp, kDeepSeekPunct)) f |= kDsPunct;
  if (in_ranges(cp, kDeepSeekCjk)) f |= kDsCjk;
  return f;
}

struct Unit {
  size_t start;  // byte offset in the text
  uint32_t cp;   // 0xFFFFFFFF for a byte that is not valid UTF-8
  uint16_t flags;
};

// Strict UTF-8 decoding (next_utf8); a byte that is not valid UTF-8 is one
// unit of no category.
std::vector<Unit> decode(std::string_view s) {
  std::vector<Unit> u;
  u.reserve(s.size() + 1);
  for (size_t i = 0; i < s.size();) {
    const Utf8Char ch = next_utf8(s, i);
    u.push_back(ch.valid ? Unit{i, ch.cp, flags_of(ch.cp)} : Unit{i, 0xFFFFFFFFu, kAny});
    i += ch.len;
  }
  u.push_back({s.size(), 0, 0});  // sentinel: the end offset
  return u;
}

// ---------------------------------------------------------------------------
// A regex subset: top-level alternatives of item sequences, each item a
// character class with a repetition count, a literal set, (?!\S) or $.
// Matching backtracks like a regex engine (greedy, first alternative wins).

constexpr int kMany = 1 << 30;

struct Item {
  enum Kind { kClass, kNotBeforeNonSpace, kEnd } kind = kClass;
  uint16_t any = kAny;       // the character has one of these flags
  uint16_t none = 0;         // and none of these
  uint32_t lit[3] = {0, 0, 0};  // when lit[0] != 0: the character is one of these instead
  int min = 1, max = 1;

  bool fits(const Unit& u) const {
    if (lit[0] != 0) return u.cp == lit[0] || u.cp == lit[1] || u.cp == lit[2];
    return (u.flags & any) != 0 && (u.flags & none) == 0;
  }
};
using Alt = std::vector<Item>;
using Pattern = std::vector<Alt>;

Item cls(uint16_t any, uint16_t none, int min, int max) {
  Item i;
  i.any = any, i.none = none, i.min = min, i.max = max;
  return i;
}
Item lit(uint32_t a, uint32_t b = 0, uint32_t c = 0, int min = 1, int max = 1) {
  Item i;
  i.lit[0] = a, i.lit[1] = b ? b : a, i.lit[2] = c ? c : a;
  i.min = min, i.max = max;
  return i;
}
Item opt_space() { return lit(' ', 0, 0, 0, 1); }
Item not_before_non_space() {
  Item i;
  i.kind = Item::kNotBeforeNonSpace;
  return i;
}
Item end_of_text() {
  Item i;
  i.kind = Item::kEnd;
  return i;
}

// Where `alt` matching from unit k (within [.., end)) stops, or -1.
long match(const Alt& alt, size_t item, size_t k, const std::vector<Unit>& u, size_t end) {
  if (item == alt.size()) return static_cast<long>(k);
  const Item& it = alt[item];
  switch (it.kind) {
    case Item::kEnd:
      return k == end ? match(alt, item + 1, k, u, end) : -1;
    case Item::kNotBeforeNonSpace:
      return (k == end || (u[k].flags & kSpace)) ? match(alt, item + 1, k, u, end) : -1;
    case Item::kClass: break;
  }
  size_t r = k;
  while (r < end && static_cast<long>(r - k) < it.max && it.fits(u[r])) ++r;
  for (size_t e = r;; --e) {
    if (static_cast<int>(e - k) < it.min) return -1;
    const long m = match(alt, item + 1, e, u, end);
    if (m >= 0) return m;
    if (e == k) return -1;
  }
}

struct Piece {
  size_t begin, end;  // unit indices
};

// HF's Split(pattern, behavior="Isolated") on every piece: each match and
// each stretch between matches becomes a piece.
std::vector<Piece> split(const std::vector<Piece>& in, const Pattern& p, const std::vector<Unit>& u) {
  std::vector<Piece> out;
  out.reserve(in.size() * 2);
  for (const Piece& piece : in) {
    size_t gap = piece.begin;
    for (size_t k = piece.begin; k < piece.end;) {
      long m = -1;
      for (const Alt& alt : p)
        if ((m = match(alt, 0, k, u, piece.end)) > static_cast<long>(k)) break;
      if (m <= static_cast<long>(k)) {
        ++k;
        continue;
      }
      if (gap < k) out.push_back({gap, k});
      out.push_back({k, static_cast<size_t>(m)});
      k = gap = static_cast<size_t>(m);
    }
    if (gap < piece.end) out.push_back({gap, piece.end});
  }
  return out;
}

// ---------------------------------------------------------------------------
// The published patterns

// 's|'t|'re|'ve|'m|'ll|'d, case-insensitive when `ci`.
void add_contractions(Pattern& p, bool ci) {
  const auto c = [&](char x) { return lit(static_cast<uint32_t>(x), ci ? static_cast<uint32_t>(x - 32) : 0); };
  p.push_back({lit('\''), c('s')});
  p.push_back({lit('\''), c('t')});
  p.push_back({lit('\''), c('r'), c('e')});
  p.push_back({lit('\''), c('v'), c('e')});
  p.push_back({lit('\''), c('m')});
  p.push_back({lit('\''), c('l'), c('l')});
  p.push_back({lit('\''), c('d')});
}

void add_trailing_space(Pattern& p) {
  p.push_back({cls(kSpace, 0, 1, kMany), not_before_non_space()});  // \s+(?!\S)
  p.push_back({cls(kSpace, 0, 1, kMany)});                          // \s+
}

Pattern gpt2_pattern() {
  Pattern p;
  add_contractions(p, false);
  p.push_back({opt_space(), cls(kLetter, 0, 1, kMany)});
  p.push_back({opt_space(), cls(kNumber, 0, 1, kMany)});
  p.push_back({opt_space(), cls(kAny, kSpace | kLetter | kNumber, 1, kMany)});
  add_trailing_space(p);
  return p;
}

// Llama 3 (max_digits 3) and Qwen2 (1).
Pattern llama3_pattern(int max_digits) {
  Pattern p;
  add_contractions(p, true);
  p.push_back({cls(kAny, kNewline | kLetter | kNumber, 0, 1), cls(kLetter, 0, 1, kMany)});
  p.push_back({cls(kNumber, 0, 1, max_digits)});
  p.push_back({opt_space(), cls(kAny, kSpace | kLetter | kNumber, 1, kMany), cls(kNewline, 0, 0, kMany)});
  p.push_back({cls(kSpace, 0, 0, kMany), cls(kNewline, 0, 1, kMany)});
  add_trailing_space(p);
  return p;
}

Pattern tekken_pattern() {
  Pattern p;
  const Item lead = cls(kAny, kNewline | kLetter | kNumber, 0, 1);
  p.push_back({lead, cls(kUpperish, 0, 0, kMany), cls(kLowerish, 0, 1, kMany)});
  p.push_back({lead, cls(kUpperish, 0, 1, kMany), cls(kLowerish, 0, 0, kMany)});
  p.push_back({cls(kNumber, 0, 1, 1)});
  p.push_back({opt_space(), cls(kAny, kSpace | kLetter | kNumber, 1, kMany), lit('\r', '\n', '/', 0, kMany)});
  p.push_back({cls(kSpace, 0, 0, kMany), cls(kNewline, 0, 1, kMany)});
  add_trailing_space(p);
  return p;
}

std::vector<Pattern> patterns_for(PreTokenizer pre) {
  switch (pre) {
    case PreTokenizer::kGpt2: return {gpt2_pattern()};
    case PreTokenizer::kLlama3: return {llama3_pattern(3)};
    case PreTokenizer::kQwen2: return {llama3_pattern(1)};
    case PreTokenizer::kSmolLM: return {{{cls(kNumber, 0, 1, 1)}}, gpt2_pattern()};
    case PreTokenizer::kDeepSeekLLM:
      return {
          {{cls(kNewline, 0, 1, 1)}},
          {{cls(kSpace, 0, 0, 1), cls(kDsLetter, 0, 1, kMany)}},
          {{cls(kSpace, 0, 0, 1), cls(kDsPunct, 0, 1, kMany)}},
          {{cls(kSpace, 0, 1, kMany), end_of_text()}},
          {{cls(kDsCjk, 0, 1, kMany)}},
          {{cls(kNumber, 0, 1, kMany)}},
      };
    case PreTokenizer::kTekken: return {tekken_pattern()};
    case PreTokenizer::kLlamaCppDefault: {
      // [\p{P}\$\+<=>\^~\|]+, then GPT-2's regex, \p{N}+, [0-9][0-9][0-9].
      return {{{cls(kPunct | kDefaultSym, 0, 1, kMany)}}, gpt2_pattern(), {{cls(kNumber, 0, 1, kMany)}},
              {{cls(kAsciiDigit, 0, 3, 3)}}};
    }
  }
  return {gpt2_pattern()};
}

}  // namespace

PreTokenizerInfo pre_tokenizer_from_name(const std::string& name) {
  using P = PreTokenizer;
  struct Entry {
    const char* name;
    PreTokenizerInfo info;
  };
  static const Entry kNames[] = {
      {"", {P::kGpt2}}, {"gpt-2", {P::kGpt2}}, {"phi-2", {P::kGpt2}}, {"mpt", {P::kGpt2}},
      {"olmo", {P::kGpt2}}, {"jais", {P::kGpt2}},
      {"llama-bpe", {P::kLlama3, true, true}}, {"llama3", {P::kLlama3, true, true}},
      {"llama-v3", {P::kLlama3, true, true}}, {"falcon3", {P::kLlama3, true, true}},
      {"pixtral", {P::kLlama3, true, true}}, {"dbrx", {P::kLlama3}}, {"smaug-bpe", {P::kLlama3}},
      {"qwen2", {P::kQwen2}}, {"deepseek-r1-qwen", {P::kQwen2}}, {"stablelm2", {P::kQwen2}},
      {"megrez", {P::kQwen2}},
      {"smollm", {P::kSmolLM}}, {"starcoder", {P::kSmolLM}}, {"refact", {P::kSmolLM}},
      {"command-r", {P::kSmolLM}}, {"codeshell", {P::kSmolLM}},
      {"deepseek-llm", {P::kDeepSeekLLM}},
      {"tekken", {P::kTekken, true, true}},
      {"default", {P::kLlamaCppDefault}},
  };
  for (const Entry& e : kNames)
    if (name == e.name) return e.info;
  throw Error("tokenizer: pre-tokenizer '" + name +
              "' (tokenizer.ggml.pre) is not supported; supported: gpt-2, llama-bpe, qwen2, smollm, "
              "deepseek-llm, tekken, default (and their llama.cpp aliases)");
}

std::vector<std::string_view> pretokenize(std::string_view text, PreTokenizer pre) {
  const std::vector<Unit> u = decode(text);
  const size_t n = u.size() - 1;
  std::vector<Piece> pieces;
  if (n > 0) pieces.push_back({0, n});
  static const std::vector<Pattern> kPatterns[] = {
      patterns_for(PreTokenizer::kGpt2),   patterns_for(PreTokenizer::kLlama3),
      patterns_for(PreTokenizer::kQwen2),  patterns_for(PreTokenizer::kSmolLM),
      patterns_for(PreTokenizer::kDeepSeekLLM), patterns_for(PreTokenizer::kTekken),
      patterns_for(PreTokenizer::kLlamaCppDefault)};
  for (const Pattern& p : kPatterns[static_cast<int>(pre)]) pieces = split(pieces, p, u);
  std::vector<std::string_view> out;
  out.reserve(pieces.size());
  for (const Piece& pc : pieces) out.push_back(text.substr(u[pc.begin].start, u[pc.end].start - u[pc.begin].start));
  return out;
}

}  // namespace cascade
