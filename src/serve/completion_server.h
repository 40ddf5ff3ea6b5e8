// CompletionServer — an OpenAI-compatible HTTP API over any Backend (cpp-httplib).
//
//   POST /v1/completions        text_completion, or "stream": true server-sent events
//   POST /v1/chat/completions   chat.completion, or chat.completion.chunk events; then "data: [DONE]"
//   GET  /v1/models             the one model, named by its alias
//   GET  /health, /v1/health    200 {"status":"ok"}; 503 while loading or while the
//                               health probe names an unreachable node
//   POST /tokenize, /detokenize {"content"} -> {"tokens"} and back (llama.cpp's shape)
//   GET  /metrics               Prometheus text (serve_metrics.h)
// Fields, defaults and errors: api_request.h, docs/API.md.
//
// Each choice is a fresh session (a new Backend from the factory), so no
// state leaks between users. Up to `parallel` requests generate at once;
// `max_waiting` more queue in arrival order; past that: 429. Errors have
// OpenAI's shape {"error": {"message", "type", "param", "code"}}. A streamed
// request whose client goes away stops generating at its next token.
//
// The server, like the client role, sees the text: it runs where the user
// trusts, next to the client.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "engine/backend.h"
#include "serve/admission.h"
#include "serve/chat_template.h"
#include "serve/serve_metrics.h"
#include "tokenizer/tokenizer.h"

namespace httplib {
class Server;
}

namespace cascade {

using BackendFactory = std::function<std::unique_ptr<Backend>()>;

struct ServerOptions {
  int parallel = 1;            // requests generating at once
  int max_waiting = 64;        // requests queued beyond those; more get 429
  std::string api_key;         // when set, /v1/* and /tokenize need "Authorization: Bearer KEY"
  std::string cors_origin;     // when set, sent as Access-Control-Allow-Origin (and preflights answered)
  int keep_alive_seconds = 2;  // an idle keep-alive connection holds a worker this long at most
  bool log_requests = false;   // one line per request on stderr
};

struct ServedModel {
  std::string id;  // what /v1/models lists and replies name (an alias or the file's base name)
  const Tokenizer* tok = nullptr;
  int context_length = 0;
  ChatTemplate chat;
  BackendFactory make_backend;
};

class CompletionServer {
 public:
  explicit CompletionServer(ServerOptions opts = {});
  ~CompletionServer();

  // Binds host:port (port 0: any free port) and returns the bound port.
  // Throws Error when the address cannot be bound, e.g. another server has it.
  int bind(const std::string& host, int port);
  // Serves until stop(); call from its own thread.
  void serve();
  void stop();
  bool stopped() const { return stopped_; }

  // Starts answering with this model; /health turns 200.
  void ready(ServedModel model);
  // `probe` returns "" when every node is reachable, else what is not; it is
  // run every `period` on a thread of its own, and /health is 503 with its
  // message while it is not "".
  void set_health_probe(std::function<std::string()> probe,
                        std::chrono::milliseconds period = std::chrono::milliseconds(1000));

 private:
  void routes();
  void handle_generation(bool chat, const std::string& body, void* res);
  std::string new_id(const char* prefix);

  ServerOptions opts_;
  std::unique_ptr<httplib::Server> http_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> stopped_{false};
  std::atomic<bool> serve_entered_{false}, serve_returned_{false};
  ServedModel model_;
  Admission admission_;
  ServeMetrics metrics_;
  std::atomic<uint64_t> id_counter_{0};
  int listen_fd_ = -1;
  uint64_t id_salt_;

  std::function<std::string()> probe_;
  std::thread probe_thread_;
  std::mutex probe_mu_;
  std::condition_variable probe_cv_;
  std::string probe_error_;  // under probe_mu_
};

}  // namespace cascade
