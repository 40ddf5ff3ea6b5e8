#include "serve/completion_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <random>

#include "serve/api_request.h"
#include "serve/completion.h"
#include "util/error.h"

namespace cascade {

namespace {

using nlohmann::json;
using clock_type = std::chrono::steady_clock;

// Text that is not valid UTF-8 (a stray byte token) is written with U+FFFD.
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json error_json(const ApiError& e) {
  return {{"error",
           {{"message", e.what()},
            {"type", e.type},
            {"param", e.param.empty() ? json(nullptr) : json(e.param)},
            {"code", e.code.empty() ? json(nullptr) : json(e.code)}}}};
}

void send_error(httplib::Response& res, const ApiError& e) {
  res.status = e.status;
  res.set_content(dump(error_json(e)), "application/json");
}

std::vector<int> bytes_of(const std::string& s) { return std::vector<int>(s.begin(), s.end()); }

json chat_logprobs(const std::vector<TokenLogprob>& lp) {
  json content = json::array();
  for (const TokenLogprob& t : lp) {
    json top = json::array();
    for (const TokenLogprob& a : t.top)
      top.push_back({{"token", a.text}, {"logprob", a.logprob}, {"bytes", bytes_of(a.text)}});
    content.push_back({{"token", t.text}, {"logprob", t.logprob}, {"bytes", bytes_of(t.text)}, {"top_logprobs", top}});
  }
  return {{"content", content}};
}

// The completions API's logprobs object; *offset is the text offset of the
// first token, advanced past the last.
json completion_logprobs(const std::vector<TokenLogprob>& lp, size_t* offset) {
  json tokens = json::array(), lps = json::array(), tops = json::array(), offsets = json::array();
  for (const TokenLogprob& t : lp) {
    tokens.push_back(t.text);
    lps.push_back(t.logprob);
    json top = json::object();
    for (const TokenLogprob& a : t.top) top[a.text] = a.logprob;
    tops.push_back(top);
    offsets.push_back(*offset);
    *offset += t.text.size();
  }
  return {{"tokens", tokens}, {"token_logprobs", lps}, {"top_logprobs", tops}, {"text_offset", offsets}};
}

bool same_secret(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() != b.size();
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) diff |= (unsigned char)(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

// One API request from parsing to its last choice; shared with the stream
// provider, which runs after the handler returns.
struct Job {
  std::string id;
  long created = 0;
  ApiRequest req;
  std::vector<std::vector<int>> prompt_ids;  // per prompt
  std::unique_ptr<Admission::Slot> slot;
  clock_type::time_point t0;
  int prompt_tokens = 0, completion_tokens = 0;
};

CompletionServer::CompletionServer(ServerOptions opts)
    : opts_(std::move(opts)),
      http_(std::make_unique<httplib::Server>()),
      admission_(std::max(1, opts_.parallel), std::max(0, opts_.max_waiting)) {
  id_salt_ = ((uint64_t)std::random_device{}() << 32) ^ std::random_device{}();
  // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, with which a
  // second server binds the same port and the kernel splits the traffic.
  http_->set_socket_options([this](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    listen_fd_ = sock;  // httplib calls this for the listening socket only
  });
  // A worker per running or waiting request, plus spares, so idle
  // keep-alive connections (each holds a worker for keep_alive_seconds)
  // leave workers for /health and new requests.
  const size_t workers = (size_t)std::max(1, opts_.parallel) + std::max(0, opts_.max_waiting) + 32;
  http_->new_task_queue = [workers] { return new httplib::ThreadPool(workers); };
  http_->set_keep_alive_timeout(std::max(1, opts_.keep_alive_seconds));
  http_->set_keep_alive_max_count(10000);
  http_->set_read_timeout(10, 0);
  routes();
}

CompletionServer::~CompletionServer() { stop(); }

std::string CompletionServer::new_id(const char* prefix) {
  char buf[40];
  const uint64_t n = ++id_counter_;
  snprintf(buf, sizeof buf, "%016llx%06llx", (unsigned long long)(id_salt_ ^ (n * 0x9e3779b97f4a7c15ull)),
           (unsigned long long)(n & 0xffffff));
  return prefix + std::string(buf);
}

void CompletionServer::routes() {
  http_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!opts_.cors_origin.empty()) {
      res.set_header("Access-Control-Allow-Origin", opts_.cors_origin);
      if (req.method == "OPTIONS") {
        res.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
        res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type");
        res.status = 204;
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    const bool open = req.path == "/health" || req.path == "/v1/health" || req.path == "/metrics";
    if (!opts_.api_key.empty() && !open &&
        !same_secret(req.get_header_value("Authorization"), "Bearer " + opts_.api_key)) {
      send_error(res, ApiError(401, "missing or wrong API key: send the header 'Authorization: Bearer KEY'", "",
                               "invalid_api_key"));
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  http_->set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty() || res.status != 404) return httplib::Server::HandlerResponse::Unhandled;
    send_error(res, ApiError(404, "no endpoint " + req.method + " " + req.path + "; see docs/API.md", "",
                             "unknown_url"));
    return httplib::Server::HandlerResponse::Handled;
  }));
  http_->set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string msg = "internal error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      msg = e.what();
    } catch (...) {
    }
    send_error(res, ApiError(500, msg, "", "", "server_error"));
  });

  auto health = [this](const httplib::Request&, httplib::Response& res) {
    if (!ready_) {
      res.status = 503;
      res.set_content(R"({"status":"loading"})", "application/json");
      return;
    }
    std::string err;
    {
      MutexLock l(probe_mu_);
      err = probe_error_;
    }
    if (!err.empty()) {
      res.status = 503;
      res.set_content(dump({{"status", "error"}, {"error", err}}), "application/json");
      return;
    }
    res.set_content(R"({"status":"ok"})", "application/json");
  };
  http_->Get("/health", health);
  http_->Get("/v1/health", health);

  http_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_.prometheus(admission_.running(), admission_.waiting()), "text/plain; version=0.0.4");
  });

  auto model_object = [this] {
    return json{{"id", model_.id},
                {"object", "model"},
                {"created", 0},
                {"owned_by", "cascade"},
                {"meta", {{"context_length", model_.context_length},
                          {"chat_template", ChatTemplate::name(model_.chat.family())}}}};
  };
  http_->Get("/v1/models", [this, model_object](const httplib::Request&, httplib::Response& res) {
    if (!ready_) return send_error(res, ApiError(503, "the model is still loading", "", "model_loading", "server_error"));
    res.set_content(dump({{"object", "list"}, {"data", json::array({model_object()})}}), "application/json");
  });
  http_->Get(R"(/v1/models/(.+))", [this, model_object](const httplib::Request& req, httplib::Response& res) {
    if (!ready_) return send_error(res, ApiError(503, "the model is still loading", "", "model_loading", "server_error"));
    if (req.matches[1] != model_.id)
      return send_error(res, ApiError(404, "the model '" + req.matches[1].str() + "' does not exist; this server has '" +
                                               model_.id + "'", "model", "model_not_found"));
    res.set_content(dump(model_object()), "application/json");
  });

  http_->Post("/tokenize", [this](const httplib::Request& req, httplib::Response& res) {
    if (!ready_) return send_error(res, ApiError(503, "the model is still loading", "", "model_loading", "server_error"));
    try {
      const TokenizeRequest r = parse_tokenize_request(req.body);
      res.set_content(dump({{"tokens", model_.tok->encode(r.content, r.add_special)}}), "application/json");
    } catch (const ApiError& e) {
      send_error(res, e);
    }
  });
  http_->Post("/detokenize", [this](const httplib::Request& req, httplib::Response& res) {
    if (!ready_) return send_error(res, ApiError(503, "the model is still loading", "", "model_loading", "server_error"));
    try {
      const std::vector<int> ids = parse_detokenize_request(req.body, model_.tok->vocab_size());
      res.set_content(dump({{"content", model_.tok->decode(ids)}}), "application/json");
    } catch (const ApiError& e) {
      send_error(res, e);
    }
  });

  http_->Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
    handle_generation(false, req.body, &res);
  });
  http_->Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
    handle_generation(true, req.body, &res);
  });
}

void CompletionServer::handle_generation(bool chat, const std::string& body, void* res_ptr) {
  httplib::Response& res = *static_cast<httplib::Response*>(res_ptr);
  metrics_.request();
  auto job = std::make_shared<Job>();
  job->id = new_id(chat ? "chatcmpl-" : "cmpl-");
  job->created = (long)std::time(nullptr);
  job->t0 = clock_type::now();
  const char* path = chat ? "/v1/chat/completions" : "/v1/completions";
  auto log = [this, path](const Job& j, int status, const std::string& note) {
    if (!opts_.log_requests) return;
    const double ms = std::chrono::duration<double, std::milli>(clock_type::now() - j.t0).count();
    fprintf(stderr, "%s %s %d prompt_tokens=%d completion_tokens=%d %.0f ms%s%s\n", j.id.c_str(), path, status,
            j.prompt_tokens, j.completion_tokens, ms, note.empty() ? "" : " ", note.c_str());
  };
  auto fail = [&](const ApiError& e) {
    metrics_.failed();
    send_error(res, e);
    log(*job, e.status, e.what());
  };
  if (!ready_) return fail(ApiError(503, "the model is still loading; retry when /health is 200", "", "model_loading",
                                    "server_error"));
  const Tokenizer& tok = *model_.tok;
  const int ctx = model_.context_length;
  try {
    job->req = parse_api_request(body, chat, tok.vocab_size());
    ApiRequest& r = job->req;
    if (!r.model.empty() && r.model != model_.id)
      throw ApiError(404, "the model '" + r.model + "' does not exist; this server has '" + model_.id + "'", "model",
                     "model_not_found");
    if (chat) {
      try {
        job->prompt_ids.push_back(model_.chat.encode(tok, model_.chat.render(r.messages)));
      } catch (const Error& e) {
        throw ApiError(400, e.what(), "messages");
      }
      r.params.stop_ids = model_.chat.end_of_turn_ids(tok);
    } else {
      for (const std::string& p : r.prompts) job->prompt_ids.push_back(tok.encode(p, true));
    }
    for (const auto& ids : job->prompt_ids) {
      if (ids.empty()) throw ApiError(400, "the prompt encodes to no tokens; give some text", chat ? "messages" : "prompt");
      if (ctx > 0 && (int)ids.size() > ctx)
        throw ApiError(400, "the prompt is " + std::to_string(ids.size()) + " tokens but the model's context is " +
                                std::to_string(ctx) + "; shorten it",
                       chat ? "messages" : "prompt", "context_length_exceeded");
      job->prompt_tokens += (int)ids.size();
    }
    r.params.context_length = ctx;
  } catch (const ApiError& e) {
    return fail(e);
  }
  job->slot = admission_.acquire();
  if (!job->slot)
    return fail(ApiError(429, "the server is busy: " + std::to_string(opts_.parallel) + " requests running and " +
                                  std::to_string(opts_.max_waiting) + " waiting; retry later",
                         "", "rate_limit_exceeded", "requests"));

  // Runs choice c of prompt p; sink as for complete().
  auto run_choice = [this, &tok, ctx](const Job& j, size_t p, int c, const CompletionSink& sink) {
    CompletionParams params = j.req.params;
    // Tokens until the context is full, plus one sampled from its last position.
    const int room = ctx > 0 ? ctx - (int)j.prompt_ids[p].size() + 1 : 1 << 20;
    if (params.max_tokens < 0) params.max_tokens = room;
    params.sampling.seed += (uint64_t)c;
    std::unique_ptr<Backend> backend = model_.make_backend();
    CompletionOutput out = complete(*backend, tok, j.prompt_ids[p], params, sink);
    metrics_.choice((int)j.prompt_ids[p].size(), (int)out.ids.size(), out.first_token_seconds, out.seconds);
    return out;
  };
  auto usage = [](const Job& j) {
    return json{{"prompt_tokens", j.prompt_tokens},
                {"completion_tokens", j.completion_tokens},
                {"total_tokens", j.prompt_tokens + j.completion_tokens}};
  };
  auto envelope = [chat](const Job& j, bool chunk) {
    return json{{"id", j.id},
                {"object", chat ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion"},
                {"created", j.created},
                {"model", ""},
                {"system_fingerprint", "cascade"}};
  };

  if (!job->req.stream) {
    try {
      json choices = json::array();
      for (size_t p = 0; p < job->prompt_ids.size(); ++p)
        for (int c = 0; c < job->req.n; ++c) {
          CompletionOutput out = run_choice(*job, p, c, nullptr);
          job->completion_tokens += (int)out.ids.size();
          const int index = (int)p * job->req.n + c;
          json choice{{"index", index}, {"finish_reason", out.finish_reason}, {"logprobs", nullptr}};
          if (chat) {
            choice["message"] = {{"role", "assistant"}, {"content", out.text}};
            if (job->req.params.logprobs >= 0) choice["logprobs"] = chat_logprobs(out.logprobs);
          } else {
            const std::string prefix = job->req.echo ? job->req.prompts[p] : "";
            choice["text"] = prefix + out.text;
            size_t offset = prefix.size();
            if (job->req.params.logprobs >= 0 && job->req.params.prompt_logprobs) {
              // The prompt's tokens first; the first one has no prediction (null), as OpenAI's.
              const int first = job->prompt_ids[p][0];
              std::vector<TokenLogprob> all = {TokenLogprob{first, tok.decode(-1, first), 0, {}}};
              all.insert(all.end(), out.prompt_logprobs.begin(), out.prompt_logprobs.end());
              all.insert(all.end(), out.logprobs.begin(), out.logprobs.end());
              offset = 0;
              json lp = completion_logprobs(all, &offset);
              lp["token_logprobs"][0] = nullptr;
              lp["top_logprobs"][0] = nullptr;
              choice["logprobs"] = lp;
            } else if (job->req.params.logprobs >= 0) {
              choice["logprobs"] = completion_logprobs(out.logprobs, &offset);
            }
          }
          choices.push_back(choice);
        }
      job->slot.reset();
      json j = envelope(*job, false);
      j["model"] = model_.id;
      j["choices"] = choices;
      j["usage"] = usage(*job);
      res.set_content(dump(j), "application/json");
      log(*job, 200, "");
    } catch (const std::exception& e) {
      job->slot.reset();
      fail(ApiError(500, e.what(), "", "", "server_error"));  // e.g. a node of the cluster failed
    }
    return;
  }

  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, job, chat, run_choice, usage, envelope, log](size_t, httplib::DataSink& sink) {
        bool alive = true;
        auto emit = [&](const json& j) {
          if (!alive) return false;
          const std::string line = "data: " + dump(j) + "\n\n";
          alive = sink.write(line.data(), line.size()) && sink.is_writable();
          return alive;
        };
        auto chunk = [&](int index, const json& delta_or_text, const json& logprobs, const json& finish) {
          json j = envelope(*job, true);
          j["model"] = model_.id;
          json choice{{"index", index}, {"logprobs", logprobs}, {"finish_reason", finish}};
          choice[chat ? "delta" : "text"] = delta_or_text;
          j["choices"] = json::array({choice});
          return j;
        };
        std::string note;
        int status = 200;
        try {
          for (size_t p = 0; p < job->prompt_ids.size() && alive; ++p)
            for (int c = 0; c < job->req.n && alive; ++c) {
              const int index = (int)p * job->req.n + c;
              size_t offset = 0;
              if (chat) emit(chunk(index, {{"role", "assistant"}, {"content", ""}}, nullptr, nullptr));
              if (!chat && job->req.echo) {
                offset = job->req.prompts[p].size();
                emit(chunk(index, job->req.prompts[p], nullptr, nullptr));
              }
              const bool want_lp = job->req.params.logprobs >= 0;
              CompletionOutput out = run_choice(
                  *job, p, c, [&](const std::string& text, const std::vector<TokenLogprob>& lp) {
                    if (text.empty() && lp.empty()) return alive && sink.is_writable();  // a poll
                    json lpj = !want_lp ? json(nullptr)
                                        : chat ? chat_logprobs(lp) : completion_logprobs(lp, &offset);
                    return emit(chunk(index, chat ? json{{"content", text}} : json(text), lpj, nullptr));
                  });
              job->completion_tokens += (int)out.ids.size();
              if (out.finish_reason == "cancelled" || !alive) {
                alive = false;
                note = "client went away; generation stopped";
                break;
              }
              emit(chunk(index, chat ? json::object() : json(""), nullptr, out.finish_reason));
            }
          if (alive && job->req.include_usage) {
            json j = envelope(*job, true);
            j["model"] = model_.id;
            j["choices"] = json::array();
            j["usage"] = usage(*job);
            emit(j);
          }
        } catch (const std::exception& e) {
          metrics_.failed();
          status = 500;
          note = e.what();
          emit(error_json(ApiError(500, e.what(), "", "", "server_error")));
        }
        job->slot.reset();
        if (alive) {
          const std::string done = "data: [DONE]\n\n";
          sink.write(done.data(), done.size());
          sink.done();
        }
        log(*job, status, note);
        return alive;
      });
}

void CompletionServer::set_health_probe(std::function<std::string()> probe, std::chrono::milliseconds period) {
  probe_ = std::move(probe);
  probe_thread_ = std::thread([this, period] {
    MutexLock lock(probe_mu_);
    while (!stopped_) {
      lock.unlock();
      std::string err = probe_();
      lock.lock();
      probe_error_ = err;
      lock.wait_for(probe_cv_, period, [this] { return stopped_.load(); });
    }
  });
}

int CompletionServer::bind(const std::string& host, int port) {
  const int bound = port == 0 ? http_->bind_to_any_port(host) : (http_->bind_to_port(host, port) ? port : -1);
  check(bound > 0, "cannot listen on " + host + ":" + std::to_string(port) +
                       ": the address is in use or not local; stop the other server or pick another --listen port");
  // httplib listens with a backlog of 5: when clients reconnect at once, a
  // dropped SYN is retried after 1 s. listen() again sets a deeper backlog.
  if (listen_fd_ >= 0) ::listen(listen_fd_, SOMAXCONN);
  return bound;
}

void CompletionServer::serve() {
  serve_entered_ = true;
  if (!stopped_) http_->listen_after_bind();
  serve_returned_ = true;
}

void CompletionServer::stop() {
  {
    MutexLock l(probe_mu_);
    stopped_ = true;
  }
  probe_cv_.notify_all();
  if (probe_thread_.joinable() && probe_thread_.get_id() != std::this_thread::get_id()) probe_thread_.join();
  // httplib's stop() does nothing before listen has started, so a stop that
  // races serve() waits until the loop runs (or serve() saw stopped_).
  while (serve_entered_ && !serve_returned_ && !http_->is_running())
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  http_->stop();
}

void CompletionServer::ready(ServedModel model) {
  model_ = std::move(model);
  ready_ = true;
}

}  // namespace cascade
