#include "serve/api_request.h"

#include <climits>
#include <cmath>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>

namespace cascade {

namespace {

using nlohmann::json;

ApiError bad(const std::string& param, const std::string& msg) { return ApiError(400, msg, param, "invalid_value"); }

std::string fmt(double x) {
  std::ostringstream s;
  s << x;
  return s.str();
}

double number(const json& v, const std::string& name, double lo, double hi) {
  if (!v.is_number()) throw bad(name, "'" + name + "' must be a number");
  const double x = v.get<double>();
  if (!std::isfinite(x) || x < lo || x > hi)
    throw bad(name, "'" + name + "' must be in [" + fmt(lo) + ", " + fmt(hi) + "], got " + v.dump());
  return x;
}

long long integer(const json& v, const std::string& name, long long lo, long long hi) {
  if (!v.is_number_integer()) throw bad(name, "'" + name + "' must be an integer");
  const long long x = v.is_number_unsigned() && v.get<unsigned long long>() > (unsigned long long)LLONG_MAX
                          ? LLONG_MAX
                          : v.get<long long>();
  if (x < lo || x > hi)
    throw bad(name, "'" + name + "' must be in " + std::to_string(lo) + ".." + std::to_string(hi) + ", got " + v.dump());
  return x;
}

bool boolean(const json& v, const std::string& name) {
  if (!v.is_boolean()) throw bad(name, "'" + name + "' must be true or false");
  return v.get<bool>();
}

std::string string(const json& v, const std::string& name) {
  if (!v.is_string()) throw bad(name, "'" + name + "' must be a string");
  return v.get<std::string>();
}

// obj["type"] when it is a string, else "" (json::value would throw a
// type_error, not an ApiError, for a "type" of another kind).
std::string type_of(const json& obj) {
  auto it = obj.find("type");
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

// A message's content: a string, or OpenAI's array of {"type":"text","text"} parts.
std::string content_text(const json& c, const std::string& name) {
  if (c.is_string()) return c.get<std::string>();
  if (c.is_null()) return "";
  if (!c.is_array()) throw bad(name, "'" + name + "' must be a string or an array of text parts");
  std::string s;
  for (const json& part : c) {
    if (!part.is_object() || type_of(part) != "text" || !part.contains("text") || !part["text"].is_string())
      throw bad(name, "'" + name + "' parts must be {\"type\": \"text\", \"text\": ...}; images and audio are not supported");
    s += part["text"].get<std::string>();
  }
  return s;
}

}  // namespace

ApiRequest parse_api_request(const std::string& body, bool chat, int vocab_size) {
  json j;
  try {
    j = json::parse(body);
  } catch (const std::exception& e) {
    throw ApiError(400, std::string("the request body is not JSON: ") + e.what(), "", "invalid_json");
  }
  if (!j.is_object()) throw ApiError(400, "the request body must be a JSON object", "", "invalid_json");

  static const std::set<std::string> common = {
      "model", "max_tokens", "temperature", "top_p", "top_k", "n", "stream", "stream_options", "stop",
      "presence_penalty", "frequency_penalty", "repeat_penalty", "repeat_last_n", "logit_bias", "seed", "user",
      "logprobs", "best_of"};
  static const std::set<std::string> completion_only = {"prompt", "echo", "suffix"};
  static const std::set<std::string> chat_only = {"messages", "top_logprobs", "max_completion_tokens",
                                                  "response_format", "tools", "tool_choice", "functions",
                                                  "function_call", "parallel_tool_calls"};
  ApiRequest r;
  r.chat = chat;
  CompletionParams& p = r.params;
  p.max_tokens = chat ? -1 : 16;
  p.sampling.temperature = 1.0f;
  p.sampling.top_p = 1.0f;
  p.sampling.seed = std::random_device{}() * 0x100000000ull + std::random_device{}();
  bool chat_logprobs = false;
  int top_logprobs = 0;
  bool has_top_logprobs = false;

  for (const auto& [k, v] : j.items()) {
    if (!common.count(k) && !(chat ? chat_only : completion_only).count(k))
      throw ApiError(400, "unknown or unsupported field '" + k + "'", k, "unsupported_parameter");
    if (v.is_null()) continue;
    if (k == "model") r.model = string(v, k);
    else if (k == "max_tokens" || k == "max_completion_tokens") p.max_tokens = (int)integer(v, k, 0, 1 << 20);
    else if (k == "temperature") p.sampling.temperature = (float)number(v, k, 0, 2);
    else if (k == "top_p") {
      p.sampling.top_p = (float)number(v, k, 0, 1);
      if (p.sampling.top_p <= 0) throw bad(k, "'top_p' must be in (0, 1]");
    } else if (k == "top_k") p.sampling.top_k = (int)integer(v, k, 0, 1 << 20);
    else if (k == "n") r.n = (int)integer(v, k, 1, 16);
    else if (k == "best_of") {
      if (integer(v, k, 1, 16) != 1) throw ApiError(400, "'best_of' other than 1 is not supported; use 'n'", k, "unsupported_parameter");
    } else if (k == "stream") r.stream = boolean(v, k);
    else if (k == "stream_options") {
      if (!v.is_object()) throw bad(k, "'stream_options' must be an object");
      for (const auto& [sk, sv] : v.items()) {
        if (sk != "include_usage") throw ApiError(400, "unknown field 'stream_options." + sk + "'", k, "unsupported_parameter");
        r.include_usage = boolean(sv, "stream_options.include_usage");
      }
    } else if (k == "stop") {
      if (v.is_string()) p.stop = {v.get<std::string>()};
      else if (v.is_array() && v.size() <= 16) {
        for (const json& s : v) p.stop.push_back(string(s, "stop"));
      } else throw bad(k, "'stop' must be a string or a list of at most 16 strings");
      for (const std::string& s : p.stop)
        if (s.empty()) throw bad(k, "'stop' strings must not be empty");
    } else if (k == "presence_penalty") p.presence_penalty = (float)number(v, k, -2, 2);
    else if (k == "frequency_penalty") p.frequency_penalty = (float)number(v, k, -2, 2);
    else if (k == "repeat_penalty") {
      p.repeat_penalty = (float)number(v, k, 0, 10);
      if (p.repeat_penalty <= 0) throw bad(k, "'repeat_penalty' must be > 0 (1 = off)");
    } else if (k == "repeat_last_n") p.repeat_last_n = (int)integer(v, k, 0, 1 << 20);
    else if (k == "logit_bias") {
      if (!v.is_object()) throw bad(k, "'logit_bias' must be an object of token id -> bias");
      for (const auto& [id, b] : v.items()) {
        size_t used = 0;
        int t = -1;
        try {
          t = std::stoi(id, &used);
        } catch (...) {
        }
        if (used != id.size() || t < 0 || t >= vocab_size)
          throw bad(k, "'logit_bias' key '" + id + "' is not a token id in 0.." + std::to_string(vocab_size - 1));
        p.logit_bias[t] = (float)number(b, "logit_bias", -100, 100);
      }
    } else if (k == "seed") p.sampling.seed = (uint64_t)integer(v, k, LLONG_MIN, LLONG_MAX);
    else if (k == "user") r.user = string(v, k);
    else if (k == "logprobs") {
      if (chat) chat_logprobs = boolean(v, k);
      else p.logprobs = (int)integer(v, k, 0, 20);
    } else if (k == "top_logprobs") {
      top_logprobs = (int)integer(v, k, 0, 20);
      has_top_logprobs = true;
    } else if (k == "echo") r.echo = boolean(v, k);
    else if (k == "suffix") {
      if (!string(v, k).empty())
        throw ApiError(400, "'suffix' (fill-in-the-middle) is not supported", k, "unsupported_parameter");
    } else if (k == "prompt") {
      if (v.is_string()) r.prompts = {v.get<std::string>()};
      else if (v.is_array() && !v.empty() && v.size() <= 16) {
        for (const json& s : v) {
          if (!s.is_string()) throw bad(k, "'prompt' must be a string or a list of strings (token arrays are not supported)");
          r.prompts.push_back(s.get<std::string>());
        }
      } else throw bad(k, "'prompt' must be a string or a list of 1..16 strings");
    } else if (k == "messages") {
      if (!v.is_array() || v.empty()) throw bad(k, "'messages' must be a non-empty list");
      for (size_t i = 0; i < v.size(); ++i) {
        const std::string at = "messages[" + std::to_string(i) + "]";
        const json& m = v[i];
        if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
          throw bad(at, "'" + at + "' must be an object with a string 'role'");
        for (const auto& [mk, mv] : m.items())
          if (mk != "role" && mk != "content" && mk != "name")
            throw ApiError(400, "'" + at + "." + mk + "' is not supported", at, "unsupported_parameter");
        ChatMessage cm{m["role"].get<std::string>(), content_text(m.value("content", json()), at + ".content")};
        if (cm.role == "developer") cm.role = "system";  // OpenAI's newer name for it
        if (cm.role != "system" && cm.role != "user" && cm.role != "assistant")
          throw bad(at, "'" + at + ".role' must be system, user or assistant, got '" + cm.role + "'");
        r.messages.push_back(std::move(cm));
      }
    } else if (k == "response_format") {
      if (!v.is_object() || type_of(v) != "text")
        throw ApiError(400, "only response_format {\"type\": \"text\"} is supported", k, "unsupported_parameter");
    } else {  // tools, tool_choice, functions, function_call, parallel_tool_calls
      throw ApiError(400, "'" + k + "' (tool calling) is not supported", k, "unsupported_parameter");
    }
  }
  if (chat && r.messages.empty()) throw bad("messages", "'messages' is required");
  if (!chat && r.prompts.empty()) throw bad("prompt", "'prompt' is required");
  if (chat) {
    if (has_top_logprobs && !chat_logprobs) throw bad("top_logprobs", "'top_logprobs' needs 'logprobs': true");
    p.logprobs = chat_logprobs ? top_logprobs : -1;
  }
  if (r.echo && p.logprobs >= 0) {
    if (r.stream)
      throw ApiError(400, "'echo' with 'logprobs' is not supported when streaming", "echo", "unsupported_parameter");
    p.prompt_logprobs = true;
  }
  if (r.include_usage && !r.stream) throw bad("stream_options", "'stream_options' needs 'stream': true");
  return r;
}

TokenizeRequest parse_tokenize_request(const std::string& body) {
  const json j = json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("content") || !j["content"].is_string())
    throw ApiError(400, "send {\"content\": \"text\", \"add_special\": false}", "content");
  TokenizeRequest r;
  r.content = j["content"].get<std::string>();
  if (j.contains("add_special") && !j["add_special"].is_null()) r.add_special = boolean(j["add_special"], "add_special");
  return r;
}

std::vector<int> parse_detokenize_request(const std::string& body, int vocab_size) {
  const json j = json::parse(body, nullptr, false);
  std::vector<int> ids;
  bool ok = j.is_object() && j.contains("tokens") && j["tokens"].is_array();
  if (ok)
    for (const json& t : j["tokens"]) {
      ok = t.is_number_integer() && !(t.is_number_unsigned() && t.get<unsigned long long>() > (unsigned long long)LLONG_MAX) &&
           t.get<long long>() >= 0 && t.get<long long>() < vocab_size;
      if (!ok) break;
      ids.push_back(t.get<int>());
    }
  if (!ok)
    throw ApiError(400, "send {\"tokens\": [ids in 0.." + std::to_string(vocab_size - 1) + "]}", "tokens");
  return ids;
}

}  // namespace cascade
