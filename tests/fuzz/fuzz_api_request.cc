// Fuzz target: the bodies of cascade serve's POST endpoints.
//
// Input: u8 selector, then the request body. selector % 4 picks the endpoint
// (0 /v1/completions, 1 /v1/chat/completions, 2 /tokenize, 3 /detokenize)
// and selector / 4 % 8 the chat template family. The body goes through the
// functions CompletionServer's handlers call, in their order: the
// ApiRequest parser, then the prompts encoded (chat: rendered by the
// template, encoded with its special tokens, its end-of-turn ids), or the
// tokenize / detokenize parsers and the tokenizer call they lead to. The
// tokenizer is a small SentencePiece vocab with byte fallback and the chat
// families' control tokens. A refusal must be an ApiError with status 400.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "serve/api_request.h"
#include "serve/chat_template.h"
#include "tests/fuzz/fuzz_util.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

namespace {

using namespace cascade;

const Tokenizer& tokenizer() {
  static const Tokenizer tok = [] {
    Vocab v;
    v.kind = VocabKind::kSentencePiece;
    v.unk_id = 0, v.bos_id = 1, v.eos_id = 2;
    auto add = [&v](const std::string& piece, float score, TokenType type) {
      v.tokens.push_back(piece);
      v.scores.push_back(score);
      v.token_types.push_back((int32_t)type);
    };
    add("<unk>", 0, TokenType::kUnknown);
    add("<s>", 0, TokenType::kControl);
    add("</s>", 0, TokenType::kControl);
    char buf[8];
    for (int b = 0; b < 256; ++b) {
      snprintf(buf, sizeof buf, "<0x%02X>", b);
      add(buf, 0, TokenType::kByte);
    }
    float score = -1;
    for (const char* p : {"\xe2\x96\x81", "\xe2\x96\x81t", "\xe2\x96\x81th", "\xe2\x96\x81the", "e", "h", "t", "l",
                          "o", "He", "ll", "llo", "Hello", "\xe2\x96\x81Hello", "user", "assistant", "system"})
      add(p, score--, TokenType::kNormal);
    for (const char* p : {"<|im_start|>", "<|im_end|>", "[INST]", "[/INST]", "<|begin_of_text|>",
                          "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<start_of_turn>",
                          "<end_of_turn>", "<|end|>", "<|user|>", "<|assistant|>", "<|system|>"})
      add(p, 0, TokenType::kControl);
    return Tokenizer(std::move(v));
  }();
  return tok;
}

void run(int endpoint, ChatFamily family, const std::string& body) {
  const Tokenizer& tok = tokenizer();
  switch (endpoint) {
    case 0:
    case 1: {
      const bool chat = endpoint == 1;
      ApiRequest r = parse_api_request(body, chat, tok.vocab_size());
      if (chat) {
        const ChatTemplate t(family);
        try {
          (void)t.encode(tok, t.render(r.messages));
        } catch (const Error& e) {
          throw ApiError(400, e.what(), "messages");  // as the server turns it
        }
        (void)t.end_of_turn_ids(tok);
      } else {
        for (const std::string& p : r.prompts) (void)tok.encode(p, true);
      }
      break;
    }
    case 2: {
      const TokenizeRequest r = parse_tokenize_request(body);
      (void)tok.encode(r.content, r.add_special);
      break;
    }
    default: (void)tok.decode(parse_detokenize_request(body, tok.vocab_size()));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cascade::fuzz::quiet();
  if (size == 0) return 0;
  const ChatFamily family = (ChatFamily)(data[0] / 4 % 8);
  try {
    run(data[0] % 4, family, std::string(reinterpret_cast<const char*>(data + 1), size - 1));
  } catch (const ApiError& e) {
    if (e.status != 400) __builtin_trap();  // a body's fault is a 400
  }
  return 0;
}
