// ApiRequest — the body of POST /v1/completions or /v1/chat/completions,
// checked field by field.
//
// Every field OpenAI documents is either honoured or refused: a field we do
// not know or do not support (suffix, tools, best_of > 1, ...) is an
// ApiError 400 naming it, never silently ignored. null means absent.
// Defaults follow OpenAI's: temperature 1, top_p 1, n 1, max_tokens 16 for
// completions and "up to the context" for chat; no seed means a random one.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "serve/chat_template.h"
#include "serve/completion.h"

namespace cascade {

// An error with OpenAI's shape: {"error": {"message", "type", "param", "code"}}.
struct ApiError : std::runtime_error {
  ApiError(int status, const std::string& message, std::string param = "", std::string code = "",
           std::string type = "invalid_request_error")
      : std::runtime_error(message), status(status), param(std::move(param)), code(std::move(code)),
        type(std::move(type)) {}
  int status;
  std::string param, code, type;
};

struct ApiRequest {
  bool chat = false;
  std::string model;                  // empty when not given
  std::vector<std::string> prompts;   // completions: one per prompt
  std::vector<ChatMessage> messages;  // chat
  CompletionParams params;            // max_tokens < 0: up to the context
  int n = 1;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool echo = false;
  std::string user;
};

// Parses `body`. vocab_size bounds logit_bias ids. Throws ApiError (400).
ApiRequest parse_api_request(const std::string& body, bool chat, int vocab_size);

// The body of POST /tokenize: {"content": "text", "add_special": false}.
struct TokenizeRequest {
  std::string content;
  bool add_special = false;
};
// Throws ApiError (400) naming the field.
TokenizeRequest parse_tokenize_request(const std::string& body);

// The body of POST /detokenize: {"tokens": [ids in 0..vocab_size-1]}.
// Throws ApiError (400) naming the range.
std::vector<int> parse_detokenize_request(const std::string& body, int vocab_size);

}  // namespace cascade
