// ChatTemplate — renders chat messages into a prompt, for the common families.
//
// A GGUF model carries its chat format as a Jinja string
// (`tokenizer.chat_template`). We do not run Jinja: detect() recognises the
// family from marker strings in it (as llama.cpp's llm_chat_detect_template
// does) and render() writes that family's format with code of ours.
//
//   name     format (one turn; the prompt ends with the assistant's header)
//   plain    contents joined by "\n", no roles (llama2.c and models without a
//            template: base models continue the text)
//   llama2   [INST] <<SYS>>\nSYS\n<</SYS>>\n\nUSER [/INST] ASSISTANT </s><s>[INST] ...
//   llama3   <|start_header_id|>ROLE<|end_header_id|>\n\nCONTENT<|eot_id|> ...
//   chatml   <|im_start|>ROLE\nCONTENT<|im_end|>\n ...  (Qwen, SmolLM, Hermes)
//   mistral  [INST] SYS\n\nUSER [/INST] ASSISTANT</s>[INST] ...
//   gemma    <start_of_turn>user|model\nCONTENT<end_of_turn>\n ... (system joins the first user turn)
//   phi3     <|ROLE|>\nCONTENT<|end|>\n ...
//   zephyr   <|ROLE|>\nCONTENT</s>\n ...
//
// BOS is not written: encode() adds it when the vocab says so. Special
// strings the family uses ("<|im_end|>", "</s>", ...) are encoded as their
// control token ids when the vocab has them, plain text otherwise. The
// family's end-of-turn tokens stop a generation (besides EOS).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace cascade {

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

enum class ChatFamily { kPlain, kLlama2, kLlama3, kChatML, kMistral, kGemma, kPhi3, kZephyr };

class ChatTemplate {
 public:
  explicit ChatTemplate(ChatFamily family = ChatFamily::kPlain) : family_(family) {}

  // The family of a GGUF Jinja template, or nullopt when none matches.
  static std::optional<ChatFamily> detect(const std::string& jinja);
  // By name (see the table). Throws Error naming the choices on an unknown name.
  static ChatFamily by_name(const std::string& name);
  // The template for a model file: `flag` (a name) when given; else for a
  // GGUF the family of its tokenizer.chat_template, plain when it has none;
  // plain for a llama2.c file. *why says which. Throws Error on an unknown
  // name, or a GGUF template no family matches (naming the choices).
  static ChatTemplate for_model(const std::string& model_path, const std::string& flag, std::string* why);
  // "plain, llama2, llama3, chatml, mistral, gemma, phi3, zephyr"
  static std::string choices();
  static std::string name(ChatFamily f);

  ChatFamily family() const { return family_; }

  // The prompt text for `messages`, ending with the assistant's header so
  // the model writes the next turn. Throws Error on a role other than
  // system/user/assistant.
  std::string render(const std::vector<ChatMessage>& messages) const;

  // Token ids of a rendered prompt: the family's special strings become their
  // control ids (when the vocab has them), the text between is encoded with
  // tok.encode; BOS first when the vocab adds one.
  std::vector<int> encode(const Tokenizer& tok, const std::string& rendered) const;

  // Ids that end the assistant's turn in this family (present in the vocab),
  // besides EOS.
  std::vector<int> end_of_turn_ids(const Tokenizer& tok) const;

 private:
  std::vector<std::string> specials() const;
  ChatFamily family_;
};

}  // namespace cascade
