#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <queue>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "tokenizer/utf8.h"
#include "tokenizer/pretokenizer.h"
#include "util/error.h"

namespace cascade {
namespace {

constexpr std::string_view kSpmSpace = "\xE2\x96\x81";  // U+2581 "▁"

// ---------------------------------------------------------------------------
// UTF-8

// Length of the UTF-8 sequence a lead byte announces, as llama.cpp's SPM
// tokenizer splits text (continuation/invalid bytes count as 1).
size_t spm_char_len(unsigned char lead) {
  static constexpr size_t kByHighNibble[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kByHighNibble[lead >> 4];
}

// "<0xXX>" -> XX, else -1.
int parse_byte_piece(const std::string& p) {
  if (p.size() != 6 || p.compare(0, 3, "<0x") != 0 || p[5] != '>') return -1;
  int v = 0;
  for (int k = 3; k < 5; ++k) {
    const char c = p[k];
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else return -1;
    v = v * 16 + d;
  }
  return v;
}

std::string byte_piece(int byte) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  return std::string("<0x") + kHex[byte >> 4] + kHex[byte & 15] + ">";
}

// ---------------------------------------------------------------------------
// Pair merging shared by all three kinds: repeatedly merge the adjacent pair
// with the highest score, the leftmost pair on ties. Symbols keep their
// original slot index, so "leftmost" is "smallest left index"; stale queue
// entries (a side already merged away or grown) are skipped when popped.

struct Symbol {
  std::string text;
  int id = -1;  // token id of `text`, -1 when it is not a piece
  int prev = -1, next = -1;
  bool alive = true;
};

struct PairMerge {
  double score;
  int id;  // id of the merged piece (-1 allowed for GPT-2 BPE)
};

template <typename ScorePair>  // bool(const string& a, const string& b, PairMerge*)
void merge_symbols(std::vector<Symbol>& syms, const ScorePair& score_pair) {
  struct Candidate {
    double score;
    int left, right;
    size_t size;
    int id;
  };
  const auto worse = [](const Candidate& a, const Candidate& b) {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  };
  std::priority_queue<Candidate, std::vector<Candidate>, decltype(worse)> queue(worse);
  const auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    PairMerge m;
    if (!score_pair(syms[left].text, syms[right].text, &m)) return;
    queue.push({m.score, left, right, syms[left].text.size() + syms[right].text.size(), m.id});
  };

  for (size_t i = 0; i < syms.size(); ++i) {
    syms[i].prev = static_cast<int>(i) - 1;
    syms[i].next = i + 1 < syms.size() ? static_cast<int>(i) + 1 : -1;
  }
  for (size_t i = 1; i < syms.size(); ++i) try_add(static_cast<int>(i) - 1, static_cast<int>(i));

  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    Symbol& l = syms[c.left];
    Symbol& r = syms[c.right];
    if (!l.alive || !r.alive || l.next != c.right || l.text.size() + r.text.size() != c.size) continue;
    l.text += r.text;
    l.id = c.id;
    r.alive = false;
    l.next = r.next;
    if (r.next >= 0) syms[r.next].prev = c.left;
    try_add(l.prev, c.left);
    try_add(c.left, l.next);
  }
}

}  // namespace

// ---------------------------------------------------------------------------

struct Tokenizer::Impl {
  Vocab v;
  std::unordered_map<std::string, int> piece_to_id;   // lowest id per piece
  std::unordered_map<std::string, int> merge_rank;    // "a b" -> rank (GPT-2 BPE)
  std::array<int, 256> byte_token{};                  // SPM byte-fallback id per byte, -1 if none
  std::array<uint32_t, 256> byte_to_cp{};             // GPT-2 bytes_to_unicode
  std::unordered_map<uint32_t, uint8_t> cp_to_byte;   // its inverse
  std::vector<uint8_t> is_control;                    // decodes to ""
  std::vector<int16_t> piece_byte;                    // byte a piece stands for, or -1
  PreTokenizerInfo pre;                               // GPT-2 BPE only
  // Tokens matched in the text before splitting (llama.cpp's special-token
  // cache): control, user-defined and unknown, longest first.
  std::vector<int> specials;

  explicit Impl(Vocab vocab);
  int find(const std::string& piece) const {
    auto it = piece_to_id.find(piece);
    return it == piece_to_id.end() ? -1 : it->second;
  }
  TokenType type(int id) const {
    return v.token_types.empty() ? TokenType::kNormal : static_cast<TokenType>(v.token_types[id]);
  }

  std::vector<int> encode_llama2c(const std::string& text, bool add_bos) const;
  void encode_spm(std::string_view text, bool space_prefix, std::vector<int>& ids) const;
  void encode_gpt2(std::string_view text, std::vector<int>& ids) const;
  std::vector<int> encode(const std::string& text, bool add_special, bool parse_special) const;
  std::string decode_piece(int prev, int id) const;
};

Tokenizer::Impl::Impl(Vocab vocab) : v(std::move(vocab)) {
  const size_t n = v.tokens.size();
  check(n > 0, "tokenizer: the vocab has no tokens");
  check(n <= static_cast<size_t>(INT32_MAX), "tokenizer: the vocab is too large");
  const bool scored = v.kind == VocabKind::kSentencePiece || v.kind == VocabKind::kLlama2c;
  check(v.kind == VocabKind::kSentencePiece || v.kind == VocabKind::kLlama2c ||
            v.kind == VocabKind::kGPT2BPE,
        "tokenizer: unknown vocab kind " + std::to_string(static_cast<int>(v.kind)));
  check(!scored || v.scores.size() == n,
        "tokenizer: " + std::to_string(v.scores.size()) + " scores for " + std::to_string(n) +
            " tokens (this vocab kind needs one score per token)");
  check(v.scores.empty() || v.scores.size() == n,
        "tokenizer: " + std::to_string(v.scores.size()) + " scores for " + std::to_string(n) + " tokens");
  check(v.token_types.empty() || v.token_types.size() == n,
        "tokenizer: " + std::to_string(v.token_types.size()) + " token types for " +
            std::to_string(n) + " tokens");
  for (const auto& [name, id] : {std::pair{"bos", v.bos_id}, {"eos", v.eos_id}, {"unk", v.unk_id}})
    check(id >= -1 && id < static_cast<int>(n),
          std::string("tokenizer: ") + name + " id " + std::to_string(id) + " is outside the vocab (" +
              std::to_string(n) + " tokens)");

  piece_to_id.reserve(n);
  is_control.assign(n, 0);
  piece_byte.assign(n, -1);
  for (size_t id = 0; id < n; ++id) {
    piece_to_id.emplace(v.tokens[id], static_cast<int>(id));  // keeps the lowest id
    const TokenType t = type(static_cast<int>(id));
    is_control[id] = t == TokenType::kControl || static_cast<int>(id) == v.bos_id ||
                     static_cast<int>(id) == v.eos_id;
    const bool byte_ok = v.kind == VocabKind::kLlama2c ||
                         (v.kind == VocabKind::kSentencePiece &&
                          (t == TokenType::kByte || v.token_types.empty()));
    if (byte_ok) piece_byte[id] = static_cast<int16_t>(parse_byte_piece(v.tokens[id]));
  }

  if (v.kind != VocabKind::kLlama2c) {
    for (size_t id = 0; id < n; ++id) {
      const TokenType t = type(static_cast<int>(id));
      if (!v.tokens[id].empty() &&
          (t == TokenType::kControl || t == TokenType::kUserDefined || t == TokenType::kUnknown))
        specials.push_back(static_cast<int>(id));
    }
    std::stable_sort(specials.begin(), specials.end(),
                     [&](int a, int b) { return v.tokens[a].size() > v.tokens[b].size(); });
  }
  if (v.kind == VocabKind::kSentencePiece) {
    for (int b = 0; b < 256; ++b) byte_token[b] = find(byte_piece(b));
  }
  if (v.kind == VocabKind::kGPT2BPE) {
    pre = pre_tokenizer_from_name(v.pre);
    byte_to_cp = gpt2_byte_to_codepoint();
    for (int b = 0; b < 256; ++b) cp_to_byte[byte_to_cp[b]] = static_cast<uint8_t>(b);
    merge_rank.reserve(v.merges.size());
    for (size_t rank = 0; rank < v.merges.size(); ++rank) {
      const std::string& m = v.merges[rank];
      const size_t sp = m.find(' ');
      check(sp != std::string::npos && sp > 0 && sp + 1 < m.size() &&
                m.find(' ', sp + 1) == std::string::npos,
            "tokenizer: merge " + std::to_string(rank) + " \"" + m +
                "\" is not two pieces separated by one space");
      merge_rank.emplace(m, static_cast<int>(rank));  // keeps the best rank
    }
  }
}

std::vector<int> Tokenizer::Impl::encode_llama2c(const std::string& text, bool add_bos) const {
  const int n_vocab = static_cast<int>(v.tokens.size());
  std::vector<Symbol> syms;
  const auto push = [&](int id) { syms.push_back({v.tokens[id], id}); };
  // run.c merges with BOS in the sequence too, so it takes part here as well.
  if (add_bos && v.bos_id >= 0) push(v.bos_id);
  if (!text.empty()) {
    const int dummy_prefix = find(" ");
    if (dummy_prefix >= 0) push(dummy_prefix);
  }
  // run.c's loop: gather a lead byte and up to 3 continuation bytes, look the
  // group up, else emit each byte as id byte+3.
  std::string group;
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = text[i];
    if ((c & 0xC0) != 0x80) group.clear();
    group += static_cast<char>(c);
    const bool next_is_continuation =
        i + 1 < text.size() && (static_cast<unsigned char>(text[i + 1]) & 0xC0) == 0x80;
    if (next_is_continuation && group.size() < 4) continue;
    const int id = find(group);
    if (id >= 0) {
      push(id);
    } else {
      for (unsigned char b : group) {
        const int byte_id = b + 3;
        check(byte_id < n_vocab || v.unk_id >= 0,
              "tokenizer: byte " + std::to_string(b) + " has no byte-fallback token");
        push(byte_id < n_vocab ? byte_id : v.unk_id);
      }
    }
    group.clear();
  }

  merge_symbols(syms, [&](const std::string& a, const std::string& b, PairMerge* m) {
    const int id = find(a + b);
    // run.c starts its best score at -1e10 and needs a strictly better one.
    if (id < 0 || !(v.scores[id] > -1e10f)) return false;
    *m = {v.scores[id], id};
    return true;
  });
  std::vector<int> ids;
  for (int i = syms.empty() ? -1 : 0; i >= 0; i = syms[i].next) ids.push_back(syms[i].id);
  return ids;
}

void Tokenizer::Impl::encode_spm(std::string_view text, bool space_prefix, std::vector<int>& ids) const {
  std::string escaped;
  escaped.reserve(text.size() + 8);
  if (space_prefix) escaped += kSpmSpace;
  for (char c : text) {
    if (c == ' ') escaped += kSpmSpace;
    else escaped += c;
  }

  std::vector<Symbol> syms;
  for (size_t i = 0; i < escaped.size();) {
    const size_t len = std::min(spm_char_len(static_cast<unsigned char>(escaped[i])), escaped.size() - i);
    std::string ch = escaped.substr(i, len);
    const int id = find(ch);
    syms.push_back({std::move(ch), id});
    i += len;
  }
  merge_symbols(syms, [&](const std::string& a, const std::string& b, PairMerge* m) {
    const int id = find(a + b);
    if (id < 0) return false;
    *m = {v.scores[id], id};
    return true;
  });

  for (int i = 0; i >= 0; i = syms[i].next) {
    if (syms[i].id >= 0) {
      ids.push_back(syms[i].id);
      continue;
    }
    // A character no piece covers: its bytes as byte tokens.
    for (unsigned char b : syms[i].text) {
      const int id = byte_token[b] >= 0 ? byte_token[b] : v.unk_id;
      check(id >= 0, "tokenizer: byte " + std::to_string(b) + " has no <0x..> token and the vocab has no unk");
      ids.push_back(id);
    }
  }
}

void Tokenizer::Impl::encode_gpt2(std::string_view text, std::vector<int>& ids) const {
  std::vector<Symbol> syms;
  for (std::string_view chunk : pretokenize(text, pre.split)) {
    syms.clear();
    std::string whole;
    for (unsigned char b : chunk) {
      std::string ch;
      append_utf8(ch, byte_to_cp[b]);
      whole += ch;
      const int id = find(ch);
      syms.push_back({std::move(ch), id});
    }
    // Llama 3's and tekken's tokenizers ignore merges for a chunk that is a piece.
    if (pre.ignore_merges) {
      if (const int id = find(whole); id >= 0) {
        ids.push_back(id);
        continue;
      }
    }
    merge_symbols(syms, [&](const std::string& a, const std::string& b, PairMerge* m) {
      auto it = merge_rank.find(a + " " + b);
      if (it == merge_rank.end()) return false;
      *m = {-static_cast<double>(it->second), find(a + b)};
      return true;
    });
    for (int i = 0; i >= 0; i = syms[i].next) {
      if (syms[i].id >= 0) {
        ids.push_back(syms[i].id);
        continue;
      }
      // A merge whose result is not in the vocab (malformed vocab): fall back
      // to its characters, each of which stands for one byte.
      const std::string& s = syms[i].text;
      for (size_t k = 0; k < s.size();) {
        const Utf8Char ch = next_utf8(s, k);
        const int id = find(s.substr(k, ch.len));
        check(id >= 0 || v.unk_id >= 0,
              "tokenizer: byte-level piece \"" + s.substr(k, ch.len) + "\" is not in the vocab");
        ids.push_back(id >= 0 ? id : v.unk_id);
        k += ch.len;
      }
    }
  }
}

std::vector<int> Tokenizer::Impl::encode(const std::string& text, bool add_special, bool parse_special) const {
  if (v.kind == VocabKind::kLlama2c) return encode_llama2c(text, add_special && v.add_bos);
  std::vector<int> ids;
  if (add_special && v.add_bos && v.bos_id >= 0) ids.push_back(v.bos_id);

  // llama.cpp's tokenizer_st_partition: each special token, longest first,
  // is cut out of the text fragments still left as text. Control and unknown
  // tokens only when parse_special; user-defined ones always.
  struct Fragment {
    int token;  // -1: text
    std::string_view text;
  };
  std::vector<Fragment> frags = {{-1, text}};
  for (int id : specials) {
    if (!parse_special && type(id) != TokenType::kUserDefined) continue;
    const std::string& piece = v.tokens[id];
    std::vector<Fragment> next;
    for (const Fragment& f : frags) {
      if (f.token >= 0 || f.text.find(piece) == std::string_view::npos) {
        next.push_back(f);
        continue;
      }
      std::string_view rest = f.text;
      for (size_t at; (at = rest.find(piece)) != std::string_view::npos;) {
        if (at > 0) next.push_back({-1, rest.substr(0, at)});
        next.push_back({id, {}});
        rest.remove_prefix(at + piece.size());
      }
      if (!rest.empty()) next.push_back({-1, rest});
    }
    frags = std::move(next);
  }

  // SentencePiece puts its dummy-prefix space at the start and after every
  // special token, as llama.cpp does.
  bool after_special = true;
  for (const Fragment& f : frags) {
    if (f.token >= 0) {
      ids.push_back(f.token);
      after_special = true;
      continue;
    }
    if (f.text.empty()) continue;
    if (v.kind == VocabKind::kSentencePiece) encode_spm(f.text, v.add_space_prefix && after_special, ids);
    else encode_gpt2(f.text, ids);
    after_special = false;
  }
  if (add_special && v.add_eos && v.eos_id >= 0) ids.push_back(v.eos_id);
  return ids;
}

std::string Tokenizer::Impl::decode_piece(int prev, int id) const {
  check(id >= 0 && id < static_cast<int>(v.tokens.size()),
        "tokenizer: cannot decode token id " + std::to_string(id) + ", the vocab has " +
            std::to_string(v.tokens.size()) + " tokens");
  if (is_control[id]) return "";
  const std::string& piece = v.tokens[id];
  const bool after_bos = v.bos_id >= 0 && prev == v.bos_id;
  switch (v.kind) {
    case VocabKind::kLlama2c: {
      if (piece_byte[id] >= 0) return std::string(1, static_cast<char>(piece_byte[id]));
      if (after_bos && !piece.empty() && piece[0] == ' ') return piece.substr(1);
      return piece;
    }
    case VocabKind::kSentencePiece: {
      if (piece_byte[id] >= 0) return std::string(1, static_cast<char>(piece_byte[id]));
      const TokenType t = type(id);
      if (t == TokenType::kUnknown || t == TokenType::kUserDefined) return piece;
      std::string out;
      out.reserve(piece.size());
      for (size_t i = 0; i < piece.size();) {
        if (piece.compare(i, kSpmSpace.size(), kSpmSpace) == 0) {
          out += ' ';
          i += kSpmSpace.size();
        } else {
          out += piece[i++];
        }
      }
      if (after_bos && v.add_space_prefix && !out.empty() && out[0] == ' ') out.erase(0, 1);
      return out;
    }
    case VocabKind::kGPT2BPE: {
      if (type(id) == TokenType::kUserDefined) return piece;
      std::string out;
      for (size_t i = 0; i < piece.size();) {
        const Utf8Char ch = next_utf8(piece, i);
        auto it = ch.valid ? cp_to_byte.find(ch.cp) : cp_to_byte.end();
        if (it != cp_to_byte.end()) out += static_cast<char>(it->second);
        else out.append(piece, i, ch.len);
        i += ch.len;
      }
      return out;
    }
  }
  return piece;
}

// ---------------------------------------------------------------------------

Tokenizer::Tokenizer(Vocab vocab) : impl_(std::make_unique<Impl>(std::move(vocab))) {}
Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

std::vector<int> Tokenizer::encode(const std::string& text, bool add_special, bool parse_special) const {
  return impl_->encode(text, add_special, parse_special);
}

std::string Tokenizer::decode(int prev_token, int token) const {
  return impl_->decode_piece(prev_token, token);
}

std::string Tokenizer::decode(const std::vector<int>& ids) const {
  std::string out;
  int prev = -1;
  for (int id : ids) {
    out += impl_->decode_piece(prev, id);
    prev = id;
  }
  return out;
}

int Tokenizer::bos() const { return impl_->v.bos_id; }
int Tokenizer::eos() const { return impl_->v.eos_id; }
int Tokenizer::vocab_size() const { return static_cast<int>(impl_->v.tokens.size()); }
VocabKind Tokenizer::kind() const { return impl_->v.kind; }
const Vocab& Tokenizer::vocab() const { return impl_->v; }
int Tokenizer::find_piece(const std::string& piece) const { return impl_->find(piece); }

}  // namespace cascade
