#include "serve/completion_server.h"

#include <httplib.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <sstream>

#include "client/generate.h"
#include "util/error.h"

namespace cascade {

namespace {

using nlohmann::json;

void send_error(httplib::Response& res, int status, const std::string& msg) {
  res.status = status;
  res.set_content(json{{"error", {{"message", msg}}}}.dump(), "application/json");
}

// Reads the request body into generation options; Error on anything invalid.
std::pair<std::string, GenerateOptions> parse_request(const std::string& body, bool* stream) {
  json j;
  try {
    j = json::parse(body);
  } catch (const std::exception& e) {
    throw Error(std::string("request body is not JSON: ") + e.what());
  }
  check(j.is_object(), "request body must be a JSON object");
  check(j.contains("prompt") && j["prompt"].is_string(), "\"prompt\" (a string) is required");
  GenerateOptions o;
  o.max_new_tokens = 16;  // OpenAI's default
  try {
    if (j.contains("max_tokens")) o.max_new_tokens = j["max_tokens"].get<int>();
    if (j.contains("temperature")) o.sampling.temperature = j["temperature"].get<float>();
    if (j.contains("top_k")) o.sampling.top_k = j["top_k"].get<int>();
    if (j.contains("top_p")) o.sampling.top_p = j["top_p"].get<float>();
    if (j.contains("seed")) o.sampling.seed = j["seed"].get<uint64_t>();
    *stream = j.value("stream", false);
  } catch (const json::exception& e) {
    throw Error(std::string("bad field type: ") + e.what());
  }
  check(o.max_new_tokens >= 0 && o.max_new_tokens <= 1 << 20, "\"max_tokens\" must be in 0..1048576");
  Sampler check_sampling(o.sampling);  // throws Error on a bad temperature, top_k or top_p
  return {j["prompt"].get<std::string>(), o};
}

json completion_object(const std::string& model, const std::string& text, const char* finish,
                       const GenerateResult* r) {
  json j{{"id", "cmpl-cascade"},
         {"object", "text_completion"},
         {"created", (long)std::time(nullptr)},
         {"model", model},
         {"choices", json::array({json{{"index", 0}, {"text", text}, {"finish_reason", finish ? json(finish) : json(nullptr)}}})}};
  if (r)
    j["usage"] = {{"prompt_tokens", r->prompt_ids.size()},
                  {"completion_tokens", r->new_ids.size()},
                  {"total_tokens", r->prompt_ids.size() + r->new_ids.size()}};
  return j;
}

}  // namespace

CompletionServer::CompletionServer() : http_(std::make_unique<httplib::Server>()) {
  http_->Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    if (!ready_) {
      res.status = 503;
      res.set_content(R"({"status":"loading"})", "application/json");
      return;
    }
    res.set_content(R"({"status":"ok"})", "application/json");
  });

  http_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    std::ostringstream m;
    m << "# TYPE cascade_requests_total counter\ncascade_requests_total " << requests_ << "\n"
      << "# TYPE cascade_requests_failed_total counter\ncascade_requests_failed_total " << failed_ << "\n"
      << "# TYPE cascade_prompt_tokens_total counter\ncascade_prompt_tokens_total " << prompt_tokens_ << "\n"
      << "# TYPE cascade_completion_tokens_total counter\ncascade_completion_tokens_total " << completion_tokens_
      << "\n"
      << "# TYPE cascade_generate_seconds_total counter\ncascade_generate_seconds_total "
      << generate_micros_ / 1e6 << "\n";
    res.set_content(m.str(), "text/plain; version=0.0.4");
  });

  http_->Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
    ++requests_;
    if (!ready_) {
      ++failed_;
      return send_error(res, 503, "the model is still loading");
    }
    bool stream = false;
    std::string prompt;
    GenerateOptions opts;
    try {
      std::tie(prompt, opts) = parse_request(req.body, &stream);
    } catch (const Error& e) {
      ++failed_;
      return send_error(res, 400, e.what());
    }
    // Runs one whole generation under the lock; on_piece sees each piece.
    auto run = [this, prompt, opts](const std::function<void(const std::string&)>& on_piece) {
      std::lock_guard<std::mutex> lock(generate_mu_);
      auto t0 = std::chrono::steady_clock::now();
      std::unique_ptr<Backend> backend = make_backend_();
      GenerateResult r = generate(*backend, *tok_, prompt, opts, on_piece);
      generate_micros_ += std::chrono::duration_cast<std::chrono::microseconds>(
                              std::chrono::steady_clock::now() - t0)
                              .count();
      prompt_tokens_ += (long)r.prompt_ids.size();
      completion_tokens_ += (long)r.new_ids.size();
      return r;
    };
    // Copies what it needs: the streaming provider runs after this handler returns.
    auto finish_reason = [max = opts.max_new_tokens](const GenerateResult& r) {
      return (int)r.new_ids.size() < max ? "stop" : "length";
    };
    if (!stream) {
      try {
        GenerateResult r = run(nullptr);
        res.set_content(completion_object(model_name_, r.text, finish_reason(r), &r).dump(), "application/json");
      } catch (const std::exception& e) {
        ++failed_;
        send_error(res, 500, e.what());  // e.g. a node of the cluster failed
      }
      return;
    }
    res.set_chunked_content_provider(
        "text/event-stream", [this, run, finish_reason](size_t, httplib::DataSink& sink) {
          auto emit = [&sink](const json& j) {
            const std::string line = "data: " + j.dump() + "\n\n";
            sink.write(line.data(), line.size());
          };
          try {
            GenerateResult r = run([&](const std::string& piece) {
              emit(completion_object(model_name_, piece, nullptr, nullptr));
            });
            emit(completion_object(model_name_, "", finish_reason(r), &r));
          } catch (const std::exception& e) {
            ++failed_;
            emit(json{{"error", {{"message", e.what()}}}});
          }
          const std::string done = "data: [DONE]\n\n";
          sink.write(done.data(), done.size());
          sink.done();
          return true;
        });
  });
}

CompletionServer::~CompletionServer() { stop(); }

int CompletionServer::bind(const std::string& host, int port) {
  const int bound = port == 0 ? http_->bind_to_any_port(host) : (http_->bind_to_port(host, port) ? port : -1);
  check(bound > 0, "cannot listen on " + host + ":" + std::to_string(port) + " (address in use?)");
  return bound;
}

void CompletionServer::serve() { http_->listen_after_bind(); }

void CompletionServer::stop() {
  stopped_ = true;
  http_->stop();
}

void CompletionServer::ready(std::string model_name, const Tokenizer* tok, BackendFactory make_backend) {
  model_name_ = std::move(model_name);
  tok_ = tok;
  make_backend_ = std::move(make_backend);
  ready_ = true;
}

}  // namespace cascade
