#include "tokenizer/llama2c_vocab.h"

#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>

#include "util/error.h"

namespace cascade {
namespace {

// No real tokenizer has pieces this long or this many; larger values mean a
// corrupt file or a wrong vocab_size, and would only make us allocate wildly.
constexpr uint32_t kMaxPieceBytes = 1 << 16;
constexpr int kMaxVocabSize = 1 << 24;

// Sequential little-endian reader over the file bytes that reports truncation
// with the offset and what it was reading, so the error says where it broke.
class ByteReader {
 public:
  ByteReader(const std::string& bytes, const std::string& path) : bytes_(bytes), path_(path) {}

  template <typename T>
  T read(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  std::string read_bytes(size_t n, const char* what) {
    need(n, what);
    std::string s = bytes_.substr(pos_, n);
    pos_ += n;
    return s;
  }

  size_t pos() const { return pos_; }
  size_t remaining() const { return bytes_.size() - pos_; }

 private:
  void need(size_t n, const char* what) {
    check(remaining() >= n, "tokenizer file " + path_ + " is truncated: " + what + " at byte " +
                                std::to_string(pos_) + " needs " + std::to_string(n) +
                                " bytes, only " + std::to_string(remaining()) + " left");
  }

  const std::string& bytes_;
  const std::string& path_;
  size_t pos_ = 0;
};

bool is_byte_piece(const std::string& p) {
  return p.size() == 6 && p.compare(0, 3, "<0x") == 0 && p[5] == '>' &&
         std::isxdigit(static_cast<unsigned char>(p[3])) &&
         std::isxdigit(static_cast<unsigned char>(p[4]));
}

}  // namespace

Vocab read_llama2c_vocab(const std::string& path, int vocab_size) {
  check(vocab_size > 0 && vocab_size <= kMaxVocabSize,
        "tokenizer " + path + ": vocab_size " + std::to_string(vocab_size) +
            " is out of range (1.." + std::to_string(kMaxVocabSize) + ")");
  std::ifstream in(path, std::ios::binary);
  check(in.good(), "cannot open tokenizer file " + path);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  check(!in.bad(), "cannot read tokenizer file " + path);
  return parse_llama2c_vocab(bytes, path, vocab_size);
}

Vocab parse_llama2c_vocab(const std::string& bytes, const std::string& path, int vocab_size) {
  check(vocab_size > 0 && vocab_size <= kMaxVocabSize,
        "tokenizer " + path + ": vocab_size " + std::to_string(vocab_size) +
            " is out of range (1.." + std::to_string(kMaxVocabSize) + ")");
  ByteReader r(bytes, path);
  Vocab v;
  v.kind = VocabKind::kLlama2c;
  v.bos_id = 1;
  v.eos_id = 2;
  v.unk_id = 0;
  v.add_bos = true;
  v.add_space_prefix = true;

  const uint32_t max_len = r.read<uint32_t>("header max_token_length");
  check(max_len > 0 && max_len <= kMaxPieceBytes,
        "tokenizer file " + path + ": header max_token_length " + std::to_string(max_len) +
            " is out of range (1.." + std::to_string(kMaxPieceBytes) + ")");
  v.max_token_length = static_cast<int>(max_len);

  v.tokens.reserve(vocab_size);
  v.scores.reserve(vocab_size);
  v.token_types.reserve(vocab_size);
  for (int id = 0; id < vocab_size; ++id) {
    const std::string at = " of piece " + std::to_string(id);
    const float score = r.read<float>(("score" + at).c_str());
    check(std::isfinite(score), "tokenizer file " + path + ": score of piece " + std::to_string(id) +
                                    " is not finite");
    const int32_t len = r.read<int32_t>(("length" + at).c_str());
    check(len >= 0 && static_cast<uint32_t>(len) <= max_len,
          "tokenizer file " + path + ": piece " + std::to_string(id) + " has length " +
              std::to_string(len) + ", outside 0..max_token_length (" + std::to_string(max_len) +
              "); the file is corrupt or not a llama2.c tokenizer");
    std::string piece = r.read_bytes(static_cast<size_t>(len), ("bytes" + at).c_str());

    TokenType type = TokenType::kNormal;
    if (id == v.unk_id) type = TokenType::kUnknown;
    else if (id == v.bos_id || id == v.eos_id) type = TokenType::kControl;
    else if (is_byte_piece(piece)) type = TokenType::kByte;

    v.tokens.push_back(std::move(piece));
    v.scores.push_back(score);
    v.token_types.push_back(static_cast<int32_t>(type));
  }
  check(r.remaining() == 0,
        "tokenizer file " + path + " has " + std::to_string(r.remaining()) +
            " bytes left after " + std::to_string(vocab_size) +
            " pieces: it holds more pieces than the model's vocab_size, or is not a llama2.c tokenizer");
  return v;
}

}  // namespace cascade
