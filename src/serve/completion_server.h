// CompletionServer — an OpenAI-style HTTP API over any Backend (cpp-httplib).
//
//   GET  /health          503 {"status":"loading"} until ready(), then 200 {"status":"ok"}
//   POST /v1/completions  {"prompt", "max_tokens", "temperature", "top_k", "top_p", "seed",
//                          "stream"} → a text_completion object, or with "stream": true
//                          server-sent events ("data: {...}" per piece, then "data: [DONE]")
//   GET  /metrics         Prometheus text: requests, tokens, seconds
//
// Each request is a fresh session (a new Backend from the factory), so no
// state leaks between users; requests are served one at a time, because the
// cores (or the cluster) are shared. Bad requests get 400 with
// {"error": {"message": ...}}. The server, like the client, sees the text: it
// runs where the user trusts, next to the client role.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "client/backend.h"
#include "tokenizer/tokenizer.h"

namespace httplib {
class Server;
}

namespace cascade {

using BackendFactory = std::function<std::unique_ptr<Backend>()>;

class CompletionServer {
 public:
  CompletionServer();
  ~CompletionServer();

  // Binds host:port (port 0: any free port) and returns the bound port.
  // Throws Error when the address cannot be bound.
  int bind(const std::string& host, int port);
  // Serves until stop(); call from its own thread.
  void serve();
  void stop();
  bool stopped() const { return stopped_; }

  // Makes the server answer requests with this model name, tokenizer and
  // backend factory; /health turns 200.
  void ready(std::string model_name, const Tokenizer* tok, BackendFactory make_backend);

 private:
  std::unique_ptr<httplib::Server> http_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> stopped_{false};
  std::string model_name_;
  const Tokenizer* tok_ = nullptr;
  BackendFactory make_backend_;
  std::mutex generate_mu_;  // one generation at a time
  std::atomic<long> requests_{0}, failed_{0}, prompt_tokens_{0}, completion_tokens_{0};
  std::atomic<long> generate_micros_{0};
};

}  // namespace cascade
