#include "serve/chat_template.h"

#include <algorithm>
#include <cstring>
#include <fstream>

#include "model/gguf.h"

#include "util/error.h"

namespace cascade {

namespace {

struct FamilyInfo {
  ChatFamily family;
  const char* name;
  std::vector<std::string> specials;  // encoded as control ids when the vocab has them
  std::vector<std::string> ends;      // end the assistant's turn
};

const std::vector<FamilyInfo>& families() {
  static const std::vector<FamilyInfo> f = {
      {ChatFamily::kPlain, "plain", {}, {}},
      {ChatFamily::kLlama2, "llama2", {"<s>", "</s>"}, {"</s>"}},
      {ChatFamily::kLlama3, "llama3",
       {"<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"},
       {"<|eot_id|>", "<|end_of_text|>"}},
      {ChatFamily::kChatML, "chatml", {"<|im_start|>", "<|im_end|>"}, {"<|im_end|>", "<|endoftext|>"}},
      {ChatFamily::kMistral, "mistral", {"<s>", "</s>", "[INST]", "[/INST]"}, {"</s>"}},
      {ChatFamily::kGemma, "gemma", {"<start_of_turn>", "<end_of_turn>"}, {"<end_of_turn>"}},
      {ChatFamily::kPhi3, "phi3", {"<|system|>", "<|user|>", "<|assistant|>", "<|end|>", "<|endoftext|>"},
       {"<|end|>", "<|endoftext|>"}},
      {ChatFamily::kZephyr, "zephyr", {"<|system|>", "<|user|>", "<|assistant|>", "</s>"}, {"</s>"}},
  };
  return f;
}

const FamilyInfo& info(ChatFamily f) {
  for (const FamilyInfo& i : families())
    if (i.family == f) return i;
  throw Error("unknown chat family");
}

bool contains(const std::string& s, const char* what) { return s.find(what) != std::string::npos; }

std::string trim(const std::string& s) {
  const char* ws = " \t\n\r";
  const size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

// The id of `piece` when the vocab has it as a control (or user-defined)
// token; -1 otherwise, so a piece that is ordinary text stays text.
int special_id(const Tokenizer& tok, const std::string& piece) {
  const int id = tok.find_piece(piece);
  if (id < 0) return -1;
  const auto& types = tok.vocab().token_types;
  if (types.empty() || id == tok.bos() || id == tok.eos()) return id;
  const auto t = (TokenType)types[id];
  return t == TokenType::kControl || t == TokenType::kUserDefined ? id : -1;
}

// Messages with the system prompt folded into the first user turn (for the
// formats that have no system role of their own).
std::vector<ChatMessage> fold_system(const std::vector<ChatMessage>& in) {
  std::vector<ChatMessage> out;
  std::string system;
  for (const ChatMessage& m : in) {
    if (m.role == "system") {
      system += (system.empty() ? "" : "\n\n") + m.content;
    } else if (m.role == "user" && !system.empty()) {
      out.push_back({"user", system + "\n\n" + m.content});
      system.clear();
    } else {
      out.push_back(m);
    }
  }
  if (!system.empty()) out.push_back({"user", system});
  return out;
}

}  // namespace

std::optional<ChatFamily> ChatTemplate::detect(const std::string& t) {
  if (contains(t, "<|im_start|>")) return ChatFamily::kChatML;
  if (contains(t, "<|start_header_id|>") && contains(t, "<|end_header_id|>")) return ChatFamily::kLlama3;
  if (contains(t, "<start_of_turn>")) return ChatFamily::kGemma;
  if (contains(t, "<|assistant|>") && contains(t, "<|end|>")) return ChatFamily::kPhi3;
  if (contains(t, "<|user|>")) return ChatFamily::kZephyr;
  if (contains(t, "[INST]")) return contains(t, "<<SYS>>") ? ChatFamily::kLlama2 : ChatFamily::kMistral;
  return std::nullopt;
}

ChatFamily ChatTemplate::by_name(const std::string& name) {
  for (const FamilyInfo& i : families())
    if (name == i.name) return i.family;
  throw Error("unknown chat template '" + name + "'; choose one of: " + choices());
}

ChatTemplate ChatTemplate::for_model(const std::string& path, const std::string& flag, std::string* why) {
  if (!flag.empty()) {
    *why = "--chat-template";
    return ChatTemplate(by_name(flag));
  }
  char magic[4] = {};
  std::ifstream f(path, std::ios::binary);
  if (!f.read(magic, 4) || std::memcmp(magic, "GGUF", 4) != 0) {
    *why = "default for llama2.c models";
    return ChatTemplate(ChatFamily::kPlain);
  }
  std::optional<std::string> jinja = GgufFile::open(path).opt_string("tokenizer.chat_template");
  if (!jinja) {
    *why = "the model has no tokenizer.chat_template";
    return ChatTemplate(ChatFamily::kPlain);
  }
  std::optional<ChatFamily> family = detect(*jinja);
  check(family.has_value(), "the chat template in " + path +
                                " (tokenizer.chat_template) is not one Cascade knows; pass --chat-template NAME with one of: " +
                                choices());
  *why = "detected from tokenizer.chat_template";
  return ChatTemplate(*family);
}

std::string ChatTemplate::choices() {
  std::string s;
  for (const FamilyInfo& i : families()) s += (s.empty() ? "" : ", ") + std::string(i.name);
  return s;
}

std::string ChatTemplate::name(ChatFamily f) { return info(f).name; }

std::string ChatTemplate::render(const std::vector<ChatMessage>& messages) const {
  for (const ChatMessage& m : messages)
    check(m.role == "system" || m.role == "user" || m.role == "assistant",
          "message role must be system, user or assistant, got '" + m.role + "'");
  std::string s;
  switch (family_) {
    case ChatFamily::kPlain:
      for (const ChatMessage& m : messages) s += (s.empty() ? "" : "\n") + m.content;
      return s;
    case ChatFamily::kLlama2: {
      // The system prompt goes inside the first [INST], in <<SYS>> tags.
      std::string system;
      bool first = true;
      for (const ChatMessage& m : messages) {
        if (m.role == "system") {
          system = m.content;
        } else if (m.role == "user") {
          s += first ? "[INST] " : "<s>[INST] ";
          if (!system.empty()) s += "<<SYS>>\n" + system + "\n<</SYS>>\n\n";
          system.clear();
          s += trim(m.content) + " [/INST]";
          first = false;
        } else {
          s += " " + trim(m.content) + " </s>";
        }
      }
      return s;
    }
    case ChatFamily::kMistral:
      for (const ChatMessage& m : fold_system(messages))
        s += m.role == "user" ? "[INST] " + m.content + " [/INST]" : " " + m.content + "</s>";
      return s;
    case ChatFamily::kLlama3:
      for (const ChatMessage& m : messages)
        s += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + trim(m.content) + "<|eot_id|>";
      return s + "<|start_header_id|>assistant<|end_header_id|>\n\n";
    case ChatFamily::kChatML:
      for (const ChatMessage& m : messages) s += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
      return s + "<|im_start|>assistant\n";
    case ChatFamily::kGemma:
      for (const ChatMessage& m : fold_system(messages))
        s += "<start_of_turn>" + std::string(m.role == "assistant" ? "model" : "user") + "\n" + trim(m.content) +
             "<end_of_turn>\n";
      return s + "<start_of_turn>model\n";
    case ChatFamily::kPhi3:
      for (const ChatMessage& m : messages) s += "<|" + m.role + "|>\n" + m.content + "<|end|>\n";
      return s + "<|assistant|>\n";
    case ChatFamily::kZephyr:
      for (const ChatMessage& m : messages) s += "<|" + m.role + "|>\n" + m.content + "</s>\n";
      return s + "<|assistant|>\n";
  }
  return s;
}

std::vector<std::string> ChatTemplate::specials() const { return info(family_).specials; }

std::vector<int> ChatTemplate::encode(const Tokenizer& tok, const std::string& text) const {
  std::vector<std::pair<std::string, int>> sp;
  for (const std::string& s : specials())
    if (int id = special_id(tok, s); id >= 0) sp.push_back({s, id});
  std::vector<int> ids;
  if (tok.vocab().add_bos && tok.bos() >= 0) ids.push_back(tok.bos());
  auto add_text = [&](const std::string& t) {
    if (t.empty()) return;
    std::vector<int> part = tok.encode(t, false);
    ids.insert(ids.end(), part.begin(), part.end());
  };
  size_t pos = 0;
  while (pos < text.size()) {
    // The earliest special string from pos (the longest when two start there).
    size_t best = std::string::npos, best_len = 0;
    int best_id = -1;
    for (const auto& [s, id] : sp) {
      const size_t at = text.find(s, pos);
      if (at < best || (at == best && at != std::string::npos && s.size() > best_len)) {
        best = at;
        best_len = s.size();
        best_id = id;
      }
    }
    if (best == std::string::npos) {
      add_text(text.substr(pos));
      break;
    }
    add_text(text.substr(pos, best - pos));
    ids.push_back(best_id);
    pos = best + best_len;
  }
  return ids;
}

std::vector<int> ChatTemplate::end_of_turn_ids(const Tokenizer& tok) const {
  std::vector<int> ids;
  for (const std::string& s : info(family_).ends)
    if (int id = special_id(tok, s); id >= 0 && id != tok.eos()) ids.push_back(id);
  return ids;
}

}  // namespace cascade
