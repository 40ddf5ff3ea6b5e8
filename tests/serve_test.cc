// The HTTP API: what a client of /v1/completions or /v1/chat/completions gets
// equals the engine's own generation, streamed or not; every field is honoured
// or refused with OpenAI's error shape; the server stays answerable under
// idle connections, disconnects and a full queue.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "client/generate.h"
#include "model/gguf.h"
#include "model/loader.h"
#include "nodes/local_cluster.h"
#include "serve/chat_template.h"
#include "serve/completion.h"
#include "serve/completion_server.h"
#include "tests/test_util.h"
#include "util/error.h"

namespace cascade {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// The plaintext engine, `delay` slower per step (for tests that need a
// generation to last).
class SlowBackend : public Backend {
 public:
  SlowBackend(const Model& m, std::chrono::milliseconds delay) : inner_(m), delay_(delay) {}
  void step(const int32_t* tokens, int n, bool all_rows, std::vector<float>& logits) override {
    std::this_thread::sleep_for(delay_);
    inner_.step(tokens, n, all_rows, logits);
  }
  int position() const override { return inner_.position(); }

 private:
  PlainBackend inner_;
  std::chrono::milliseconds delay_;
};

// The events of a server-sent-event body, up to "[DONE]" (*done says whether it came).
std::vector<json> events(const std::string& body, bool* done) {
  std::vector<json> out;
  *done = false;
  size_t pos = 0;
  while ((pos = body.find("data: ", pos)) != std::string::npos) {
    const size_t end = body.find("\n\n", pos);
    const std::string payload = body.substr(pos + 6, end - pos - 6);
    pos = end;
    if (payload == "[DONE]") {
      *done = true;
      break;
    }
    out.push_back(json::parse(payload));
  }
  return out;
}

class Serve : public ::testing::Test {
 protected:
  void SetUp() override {
    lm_ = load_model(testing::shared_path("models/stories260K/stories260K.bin"));
    tok_ = std::make_unique<Tokenizer>(std::move(*lm_.vocab));
    plan_ = std::make_unique<Plan>(Plan::make({.alpha = 3, .beta = 3, .c = 2, .delta = 1}, lm_.model.cfg));
    start({});
  }
  void TearDown() override { halt(); }
  void halt() {
    if (!server_) return;
    server_->stop();
    http_.join();
    server_.reset();
  }
  void start(ServerOptions opts) {
    halt();
    server_ = std::make_unique<CompletionServer>(opts);
    port_ = server_->bind("127.0.0.1", 0);
    http_ = std::thread([this] { server_->serve(); });
    client_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
    client_->set_read_timeout(60, 0);
  }
  // Cascade's roles in this process: the API's text must equal the plaintext engine's.
  void make_ready(ChatFamily chat = ChatFamily::kPlain) {
    server_->ready({.id = "stories260K",
                    .tok = tok_.get(),
                    .context_length = lm_.model.cfg.context_length,
                    .chat = ChatTemplate(chat),
                    .make_backend = [this] {
                      return std::unique_ptr<Backend>(std::make_unique<LocalCluster>(lm_.model, *plan_));
                    }});
  }
  void make_ready_slow(std::chrono::milliseconds delay) {
    server_->ready({.id = "stories260K",
                    .tok = tok_.get(),
                    .context_length = lm_.model.cfg.context_length,
                    .chat = ChatTemplate(),
                    .make_backend = [this, delay] {
                      return std::unique_ptr<Backend>(std::make_unique<SlowBackend>(lm_.model, delay));
                    }});
  }
  GenerateResult engine(const std::string& prompt, int n, SamplerConfig s = {}) {
    PlainBackend plain(lm_.model);
    return generate(plain, *tok_, prompt, {.max_new_tokens = n, .sampling = s});
  }
  std::string expected(const std::string& prompt, int n) { return engine(prompt, n).text; }
  json post(const std::string& path, const json& body, int want_status = 200) {
    auto r = client_->Post(path.c_str(), body.dump(), "application/json");
    EXPECT_TRUE(r) << path;
    if (!r) return json();
    EXPECT_EQ(r->status, want_status) << body.dump() << " -> " << r->body;
    return json::parse(r->body);
  }
  std::string stream_body(const std::string& path, const json& body) {
    auto r = client_->Post(path.c_str(), body.dump(), "application/json");
    EXPECT_TRUE(r);
    if (!r) return "";
    EXPECT_EQ(r->status, 200) << r->body;
    return r->body;
  }
  void expect_openai_error(const json& j, const std::string& param) {
    ASSERT_TRUE(j.contains("error")) << j.dump();
    EXPECT_TRUE(j["error"]["message"].is_string()) << j.dump();
    EXPECT_TRUE(j["error"]["type"].is_string()) << j.dump();
    EXPECT_TRUE(j["error"].contains("code")) << j.dump();
    if (!param.empty()) {
      EXPECT_EQ(j["error"]["param"], param) << j.dump();
    }
  }
  std::string metrics() {
    auto m = client_->Get("/metrics");
    return m ? m->body : "";
  }

  LoadedModel lm_;
  std::unique_ptr<Tokenizer> tok_;
  std::unique_ptr<Plan> plan_;
  std::unique_ptr<CompletionServer> server_;
  std::thread http_;
  int port_ = 0;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(Serve, HealthIs503UntilReady) {
  auto r = client_->Get("/health");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  make_ready();
  for (const char* path : {"/health", "/v1/health"}) {
    r = client_->Get(path);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << path;
  }
}

TEST_F(Serve, CompletionEqualsTheEnginesGeneration) {
  make_ready();
  json j = post("/v1/completions", {{"prompt", "Once upon a time"}, {"max_tokens", 40}, {"temperature", 0}});
  EXPECT_EQ(j["choices"][0]["text"], expected("Once upon a time", 40));
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(j["usage"]["completion_tokens"], 40);
  EXPECT_EQ(j["model"], "stories260K");
  EXPECT_EQ(j["object"], "text_completion");
}

TEST_F(Serve, StreamedPiecesConcatenateToTheSameText) {
  make_ready();
  bool done = false;
  auto ev = events(stream_body("/v1/completions", {{"prompt", "Tom and his dog"}, {"max_tokens", 25},
                                                   {"temperature", 0}, {"stream", true}}),
                   &done);
  std::string text, finish;
  for (const json& j : ev) {
    text += j["choices"][0]["text"].get<std::string>();
    if (!j["choices"][0]["finish_reason"].is_null()) finish = j["choices"][0]["finish_reason"];
  }
  EXPECT_TRUE(done);
  EXPECT_EQ(text, expected("Tom and his dog", 25));
  EXPECT_EQ(finish, "length");
}

TEST_F(Serve, ChatCompletionEqualsTheEnginesGenerationOfTheRenderedPrompt) {
  make_ready();  // plain template: the contents joined by "\n"
  json body = {{"model", "stories260K"},
               {"messages", {{{"role", "user"}, {"content", "Once upon a time"}}, {{"role", "user"}, {"content", "Lily"}}}},
               {"max_tokens", 30},
               {"temperature", 0}};
  json j = post("/v1/chat/completions", body);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(j["choices"][0]["message"]["content"], expected("Once upon a time\nLily", 30));
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(j["model"], "stories260K");
  EXPECT_EQ(j["id"].get<std::string>().rfind("chatcmpl-", 0), 0u);

  body["stream"] = true;
  bool done = false;
  auto ev = events(stream_body("/v1/chat/completions", body), &done);
  ASSERT_GE(ev.size(), 3u);
  EXPECT_TRUE(done);
  EXPECT_EQ(ev[0]["choices"][0]["delta"]["role"], "assistant");
  std::string text;
  for (const json& e : ev) {
    EXPECT_EQ(e["object"], "chat.completion.chunk");
    EXPECT_EQ(e["id"], ev[0]["id"]);
    text += e["choices"][0]["delta"].value("content", "");
  }
  EXPECT_EQ(text, j["choices"][0]["message"]["content"]);
  EXPECT_EQ(ev.back()["choices"][0]["finish_reason"], "length");
}

TEST_F(Serve, PromptListsAndStreamUsageAreHonoured) {
  make_ready();
  json j = post("/v1/completions", {{"prompt", {"Once upon a time", "Tom and his dog"}}, {"max_tokens", 10},
                                    {"temperature", 0}, {"n", 2}});
  ASSERT_EQ(j["choices"].size(), 4u);
  EXPECT_EQ(j["choices"][1]["text"], expected("Once upon a time", 10));
  EXPECT_EQ(j["choices"][3]["index"], 3);
  EXPECT_EQ(j["choices"][3]["text"], expected("Tom and his dog", 10));
  EXPECT_EQ(j["usage"]["completion_tokens"], 40);

  bool done = false;
  auto ev = events(stream_body("/v1/chat/completions",
                               {{"messages", {{{"role", "user"}, {"content", "Once upon a time"}}}},
                                {"max_completion_tokens", 7}, {"temperature", 0}, {"stream", true},
                                {"stream_options", {{"include_usage", true}}}}),
                   &done);
  ASSERT_FALSE(ev.empty());
  EXPECT_TRUE(done);
  EXPECT_TRUE(ev.back()["choices"].empty());
  EXPECT_EQ(ev.back()["usage"]["completion_tokens"], 7);
}

TEST_F(Serve, ModelsListsTheAliasAndOtherModelsAre404) {
  make_ready();
  auto r = client_->Get("/v1/models");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  json j = json::parse(r->body);
  EXPECT_EQ(j["object"], "list");
  ASSERT_EQ(j["data"].size(), 1u);
  EXPECT_EQ(j["data"][0]["id"], "stories260K");
  EXPECT_EQ(j["data"][0]["object"], "model");
  r = client_->Get("/v1/models/stories260K");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = client_->Get("/v1/models/gpt-4");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  json e = post("/v1/chat/completions", {{"model", "gpt-4"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}}, 404);
  expect_openai_error(e, "model");
  EXPECT_EQ(e["error"]["code"], "model_not_found");
  e = post("/v1/completions", {{"model", "/work/shared/models/x.bin"}, {"prompt", "hi"}}, 404);
  expect_openai_error(e, "model");
  r = client_->Get("/v1/no-such-endpoint");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  expect_openai_error(json::parse(r->body), "");
}

TEST_F(Serve, BadRequestsGet400InOpenAIsShape) {
  make_ready();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"not json", ""},
      {R"({"max_tokens":3})", "prompt"},
      {R"({"prompt":"x","temperature":-1})", "temperature"},
      {R"({"prompt":"x","max_tokens":-5})", "max_tokens"},
      {R"({"prompt":"x","top_p":"high"})", "top_p"},
      {R"({"prompt":"x","suffix":"end"})", "suffix"},
      {R"({"prompt":"x","frobnicate":1})", "frobnicate"},
      {R"({"prompt":"x","best_of":3})", "best_of"},
      {R"({"prompt":"x","logit_bias":{"99999":5}})", "logit_bias"},
      {R"({"prompt":"x","stop":["",""]})", "stop"},
      {R"({"prompt":"x","n":0})", "n"},
      {R"({"prompt":"x","presence_penalty":3})", "presence_penalty"},
  };
  for (const auto& [body, param] : cases) {
    auto r = client_->Post("/v1/completions", body, "application/json");
    ASSERT_TRUE(r) << body;
    EXPECT_EQ(r->status, 400) << body;
    expect_openai_error(json::parse(r->body), param);
  }
  for (const char* body : {R"({"messages":[{"role":"user","content":"x"}],"tools":[]})",
                           R"({"messages":[{"role":"wizard","content":"x"}]})", R"({"messages":[]})",
                           R"({"messages":[{"role":"user","content":"x"}],"top_logprobs":2})"}) {
    auto r = client_->Post("/v1/chat/completions", body, "application/json");
    ASSERT_TRUE(r) << body;
    EXPECT_EQ(r->status, 400) << body;
    expect_openai_error(json::parse(r->body), "");
  }
  EXPECT_NE(metrics().find("cascade_requests_failed_total " + std::to_string(cases.size() + 4)), std::string::npos)
      << metrics();
}

TEST_F(Serve, StopStringsCutTheTextAndAreNeverSplitAcrossChunks) {
  make_ready();
  const std::string full = expected("Once upon a time", 60);
  // A stop string from the middle of the text, several tokens long.
  const size_t at = full.find("Lily");
  ASSERT_NE(at, std::string::npos) << full;
  const std::string stop = "Lily";
  json body = {{"prompt", "Once upon a time"}, {"max_tokens", 60}, {"temperature", 0}, {"stop", {"zzz", stop}}};
  json j = post("/v1/completions", body);
  EXPECT_EQ(j["choices"][0]["text"], full.substr(0, at));
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  body["stream"] = true;
  bool done = false;
  std::string text;
  for (const json& e : events(stream_body("/v1/completions", body), &done)) {
    const std::string piece = e["choices"][0]["text"];
    EXPECT_EQ(piece.find("Li"), std::string::npos) << "a piece that begins the stop string was sent: " << piece;
    text += piece;
  }
  EXPECT_TRUE(done);
  EXPECT_EQ(text, full.substr(0, at));
  // A string stop given alone.
  body = {{"prompt", "Once upon a time"}, {"max_tokens", 60}, {"temperature", 0}, {"stop", ","}};
  j = post("/v1/completions", body);
  EXPECT_EQ(j["choices"][0]["text"], full.substr(0, full.find(',')));
}

TEST(StopPrefixTail, IsTheLongestSuffixThatBeginsAStop) {
  EXPECT_EQ(stop_prefix_tail("hello Li", {"Lily"}), 2u);
  EXPECT_EQ(stop_prefix_tail("hello l", {"Lily", "lo lx"}), 4u);
  EXPECT_EQ(stop_prefix_tail("hello", {"Lily"}), 0u);
  EXPECT_EQ(stop_prefix_tail("Lily", {"Lily"}), 0u);  // a whole stop is found by search, not held
}

TEST_F(Serve, NTwoAndSeedReproduceTheEnginesSampling) {
  make_ready();
  json body = {{"prompt", "Once upon a time"}, {"max_tokens", 30}, {"temperature", 1}, {"seed", 7}, {"n", 2}};
  json j = post("/v1/completions", body);
  ASSERT_EQ(j["choices"].size(), 2u);
  EXPECT_EQ(j["choices"][0]["index"], 0);
  EXPECT_EQ(j["choices"][1]["index"], 1);
  // Choice i samples with seed + i.
  EXPECT_EQ(j["choices"][0]["text"], engine("Once upon a time", 30, {.temperature = 1, .seed = 7}).text);
  EXPECT_EQ(j["choices"][1]["text"], engine("Once upon a time", 30, {.temperature = 1, .seed = 8}).text);
  EXPECT_NE(j["choices"][0]["text"], j["choices"][1]["text"]);
  EXPECT_EQ(post("/v1/completions", body)["choices"], j["choices"]);  // same seed, same text
  EXPECT_EQ(j["usage"]["completion_tokens"], 60);
}

TEST_F(Serve, LogprobsAreTheDistributionOfEachToken) {
  make_ready();
  json j = post("/v1/completions", {{"prompt", "Once upon a time"}, {"max_tokens", 12}, {"temperature", 0}, {"logprobs", 3}});
  const json& lp = j["choices"][0]["logprobs"];
  ASSERT_EQ(lp["tokens"].size(), 12u) << j.dump();
  std::string joined;
  for (size_t i = 0; i < 12; ++i) {
    joined += lp["tokens"][i].get<std::string>();
    const float l = lp["token_logprobs"][i];
    EXPECT_LE(l, 0.0f);
    ASSERT_EQ(lp["top_logprobs"][i].size(), 3u);
    float best = -1e9f;
    for (const auto& [t, v] : lp["top_logprobs"][i].items()) best = std::max(best, v.get<float>());
    EXPECT_FLOAT_EQ(l, best) << "greedy picks the most likely token";
    EXPECT_EQ(lp["text_offset"][i], joined.size() - lp["tokens"][i].get<std::string>().size());
  }
  EXPECT_EQ(joined, j["choices"][0]["text"]);

  json c = post("/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", "Once upon a time"}}}},
                                         {"max_tokens", 5}, {"temperature", 0}, {"logprobs", true}, {"top_logprobs", 2}});
  const json& content = c["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), 5u) << c.dump();
  EXPECT_EQ(content[0]["top_logprobs"].size(), 2u);
  EXPECT_EQ(content[0]["token"], content[0]["top_logprobs"][0]["token"]);
  EXPECT_TRUE(content[0]["bytes"].is_array());
}

TEST_F(Serve, EchoWithLogprobsScoresThePromptToo) {
  make_ready();
  const std::string prompt = "Once upon a time";
  const int np = (int)tok_->encode(prompt, true).size();
  json plain = post("/v1/completions", {{"prompt", prompt}, {"max_tokens", 6}, {"temperature", 0}, {"logprobs", 2}});
  json j = post("/v1/completions",
                {{"prompt", prompt}, {"max_tokens", 6}, {"temperature", 0}, {"logprobs", 2}, {"echo", true}});
  const json& lp = j["choices"][0]["logprobs"];
  ASSERT_EQ(lp["tokens"].size(), (size_t)np + 6) << j.dump();
  EXPECT_TRUE(lp["token_logprobs"][0].is_null());
  for (int i = 1; i < np; ++i) {
    EXPECT_LE(lp["token_logprobs"][i].get<float>(), 0.0f);
    EXPECT_EQ(lp["top_logprobs"][i].size(), 2u);
  }
  std::string joined;
  for (const json& t : lp["tokens"]) joined += t.get<std::string>();
  EXPECT_EQ(joined, j["choices"][0]["text"]);
  EXPECT_EQ(j["choices"][0]["text"], prompt + plain["choices"][0]["text"].get<std::string>());
  // The generated tokens' logprobs are those of the request without echo.
  for (int i = 0; i < 6; ++i)
    EXPECT_NEAR(lp["token_logprobs"][np + i].get<float>(), plain["choices"][0]["logprobs"]["token_logprobs"][i].get<float>(),
                1e-4);
  post("/v1/completions", {{"prompt", prompt}, {"logprobs", 2}, {"echo", true}, {"stream", true}}, 400);
}

TEST_F(Serve, EchoPenaltiesAndLogitBiasChangeWhatTheyShould) {
  make_ready();
  json j = post("/v1/completions", {{"prompt", "Once upon a time"}, {"max_tokens", 10}, {"temperature", 0}, {"echo", true}});
  EXPECT_EQ(j["choices"][0]["text"], "Once upon a time" + expected("Once upon a time", 10));

  const std::string greedy = expected("Once upon a time", 60);
  for (const char* field : {"frequency_penalty", "presence_penalty"}) {
    j = post("/v1/completions", {{"prompt", "Once upon a time"}, {"max_tokens", 60}, {"temperature", 0}, {field, 2}});
    EXPECT_NE(j["choices"][0]["text"], greedy) << field;
  }
  j = post("/v1/completions", {{"prompt", "Once upon a time"}, {"max_tokens", 60}, {"temperature", 0}, {"repeat_penalty", 1.5}});
  EXPECT_NE(j["choices"][0]["text"], greedy);

  // +100 on one token: every token is that one.
  const int id = tok_->encode("the", false).back();
  ASSERT_GE(id, 0);
  j = post("/v1/completions", {{"prompt", "Once upon a time"}, {"max_tokens", 4}, {"temperature", 0},
                               {"logit_bias", {{std::to_string(id), 100}}}});
  const std::vector<int> prompt = tok_->encode("Once upon a time", true);
  std::vector<int> seq = {prompt.back(), id, id, id, id};
  EXPECT_EQ(j["choices"][0]["text"], tok_->decode(seq).substr(tok_->decode(std::vector<int>{prompt.back()}).size()));
}

TEST_F(Serve, APromptPastTheContextIs400AndAGenerationThatReachesItKeepsItsText) {
  make_ready();
  const int ctx = lm_.model.cfg.context_length;
  std::string long_prompt;
  for (int i = 0; i < ctx; ++i) long_prompt += " dog";
  json e = post("/v1/completions", {{"prompt", long_prompt}}, 400);
  expect_openai_error(e, "prompt");
  EXPECT_EQ(e["error"]["code"], "context_length_exceeded");

  std::string prompt;
  for (int i = 0; i < 20; ++i) prompt += "Once upon a time. ";
  const int p = (int)tok_->encode(prompt, true).size();
  ASSERT_LT(p, ctx - 10);
  json j = post("/v1/completions", {{"prompt", prompt}, {"max_tokens", ctx}, {"temperature", 0}});
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  // Tokens up to the context, and one more sampled from the last position.
  EXPECT_EQ(j["usage"]["completion_tokens"], ctx - p + 1);
  EXPECT_FALSE(j["choices"][0]["text"].get<std::string>().empty());
  // Chat without max_tokens: up to the context.
  j = post("/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", prompt}}}}, {"temperature", 0},
                                    {"logit_bias", {{std::to_string(tok_->eos()), -100}, {std::to_string(tok_->bos()), -100}}}});
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(j["usage"]["completion_tokens"], ctx - p + 1);
}

TEST_F(Serve, InvalidUtf8IsReplacedNot500) {
  make_ready();
  const int byte_ff = tok_->find_piece("<0xFF>");
  ASSERT_GE(byte_ff, 0);
  for (bool stream : {false, true}) {
    json body = {{"prompt", "Once"}, {"max_tokens", 3}, {"temperature", 0}, {"stream", stream},
                 {"logit_bias", {{std::to_string(byte_ff), 100}}}};
    auto r = client_->Post("/v1/completions", body.dump(), "application/json");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_NE(r->body.find("\xEF\xBF\xBD"), std::string::npos) << "U+FFFD in place of the byte";
    EXPECT_EQ(r->body.find('\xFF'), std::string::npos);
  }
}

TEST_F(Serve, ASecondServerOnABusyPortIsRefused) {
  CompletionServer other;
  EXPECT_THROW(other.bind("127.0.0.1", port_), Error);
}

TEST_F(Serve, IdleKeepAliveConnectionsDoNotStarveHealth) {
  make_ready();
  // 24 connections that make one keep-alive request each and then idle.
  std::vector<int> socks;
  for (int i = 0; i < 24; ++i) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port_);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(s, (sockaddr*)&addr, sizeof addr), 0);
    const std::string req = "GET /health HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n";
    ASSERT_EQ(write(s, req.data(), req.size()), (ssize_t)req.size());
    char buf[512];
    ASSERT_GT(read(s, buf, sizeof buf), 0);
    socks.push_back(s);
  }
  httplib::Client fresh("127.0.0.1", port_);
  const auto t0 = std::chrono::steady_clock::now();
  auto r = fresh.Get("/health");
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_LT(ms, 1500) << "/health waited behind idle connections (httplib holds one 5 s)";
  for (int s : socks) close(s);
}

TEST_F(Serve, AClientThatGoesAwayStopsItsGeneration) {
  make_ready_slow(10ms);  // 500 tokens would take 5 s
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port_);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(s, (sockaddr*)&addr, sizeof addr), 0);
  const std::string body = R"({"prompt":"Once upon a time","max_tokens":500,"temperature":0,"stream":true,)"
                           R"("logit_bias":{"1":-100,"2":-100}})";
  const std::string req = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  ASSERT_EQ(write(s, req.data(), req.size()), (ssize_t)req.size());
  char buf[4096];
  ASSERT_GT(read(s, buf, sizeof buf), 0);  // the headers and first events have come
  close(s);
  const auto t0 = std::chrono::steady_clock::now();
  while (metrics().find("cascade_requests_running 0") == std::string::npos &&
         std::chrono::steady_clock::now() - t0 < 10s)
    std::this_thread::sleep_for(20ms);
  const double s_taken = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(s_taken, 2.0) << "the generation ran on after the client left";
  const std::string m = metrics();
  const size_t at = m.find("\ncascade_completion_tokens_total ");
  ASSERT_NE(at, std::string::npos);
  EXPECT_LT(std::stoi(m.substr(at + 33)), 200) << m;
}

TEST_F(Serve, HealthIs503WhileTheProbeNamesADeadNode) {
  make_ready();
  std::atomic<bool> dead{true};
  server_->set_health_probe([&] { return dead ? std::string("unreachable: comp1 at 127.0.0.1:1") : std::string(); },
                            20ms);
  std::this_thread::sleep_for(100ms);
  auto r = client_->Get("/health");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_NE(r->body.find("comp1"), std::string::npos);
  dead = false;
  std::this_thread::sleep_for(100ms);
  r = client_->Get("/v1/health");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  halt();  // the probe reads `dead`, on this stack
}

TEST_F(Serve, ApiKeyIsRequiredWhenSet) {
  start({.api_key = "s3cret"});
  make_ready();
  const std::string body = R"({"prompt":"Once","max_tokens":2})";
  auto r = client_->Post("/v1/completions", body, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  expect_openai_error(json::parse(r->body), "");
  client_->set_bearer_token_auth("wrong");
  r = client_->Post("/v1/completions", body, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  client_->set_bearer_token_auth("s3cret");
  r = client_->Post("/v1/completions", body, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  httplib::Client anon("127.0.0.1", port_);
  r = anon.Get("/health");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(Serve, CorsOriginIsSentAndPreflightsAnswered) {
  start({.cors_origin = "https://chat.example"});
  make_ready();
  auto r = client_->Options("/v1/chat/completions");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 204);
  EXPECT_EQ(r->get_header_value("Access-Control-Allow-Origin"), "https://chat.example");
  r = client_->Get("/v1/models");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->get_header_value("Access-Control-Allow-Origin"), "https://chat.example");
}

TEST_F(Serve, IdsAreUnique) {
  make_ready();
  std::set<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    json j = post("/v1/completions", {{"prompt", "Once"}, {"max_tokens", 1}});
    const std::string id = j["id"];
    EXPECT_EQ(id.rfind("cmpl-", 0), 0u) << id;
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 5u);
}

TEST_F(Serve, PastTheQueueRequestsGet429) {
  start({.parallel = 1, .max_waiting = 0});
  make_ready_slow(20ms);
  std::thread first([this] {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(30, 0);
    c.Post("/v1/completions", R"({"prompt":"Once","max_tokens":50,"temperature":0})", "application/json");
  });
  const auto t0 = std::chrono::steady_clock::now();
  while (metrics().find("cascade_requests_running 1") == std::string::npos &&
         std::chrono::steady_clock::now() - t0 < 5s)
    std::this_thread::sleep_for(5ms);
  json e = post("/v1/completions", {{"prompt", "Once"}, {"max_tokens", 2}}, 429);
  expect_openai_error(e, "");
  first.join();
  post("/v1/completions", {{"prompt", "Once"}, {"max_tokens", 2}}, 200);  // free again
}

TEST_F(Serve, TokenizeAndDetokenizeRoundTrip) {
  make_ready();
  json t = post("/tokenize", {{"content", "Once upon a time"}});
  EXPECT_EQ(t["tokens"].get<std::vector<int>>(), tok_->encode("Once upon a time", false));
  json d = post("/detokenize", {{"tokens", t["tokens"]}});
  EXPECT_EQ(d["content"], tok_->decode(t["tokens"].get<std::vector<int>>()));
  post("/detokenize", {{"tokens", {100000}}}, 400);
}

TEST_F(Serve, MetricsHaveGaugesAndLatencyHistograms) {
  make_ready();
  post("/v1/completions", {{"prompt", "Once"}, {"max_tokens", 8}, {"temperature", 0}});
  const std::string m = metrics();
  for (const char* name : {"cascade_requests_running 0", "cascade_requests_waiting 0", "cascade_tokens_per_second ",
                           "cascade_time_to_first_token_seconds_count 1",
                           "cascade_time_per_output_token_seconds_count 1", "cascade_completion_tokens_total 8"})
    EXPECT_NE(m.find(name), std::string::npos) << name << "\n" << m;
}

// --- chat templates ---

TEST(ChatTemplate, DetectsTheCommonFamiliesFromTheirJinja) {
  EXPECT_EQ(ChatTemplate::detect("{% for m in messages %}<|im_start|>{{m.role}}\n{{m.content}}<|im_end|>{% endfor %}"),
            ChatFamily::kChatML);
  EXPECT_EQ(ChatTemplate::detect("{{'<|start_header_id|>' + m['role'] + '<|end_header_id|>\n\n'}}"), ChatFamily::kLlama3);
  EXPECT_EQ(ChatTemplate::detect("{{ '<start_of_turn>' + role + '\n' }}"), ChatFamily::kGemma);
  EXPECT_EQ(ChatTemplate::detect("{{'<|user|>' + '\n' + message['content'] + '<|end|>'}}{{'<|assistant|>\n'}}"),
            ChatFamily::kPhi3);
  EXPECT_EQ(ChatTemplate::detect("{{ '<|user|>\n' + message['content'] + eos_token }}"), ChatFamily::kZephyr);
  EXPECT_EQ(ChatTemplate::detect("{{ bos_token + '[INST] <<SYS>>\\n' + system + '\\n<</SYS>>' }}"), ChatFamily::kLlama2);
  EXPECT_EQ(ChatTemplate::detect("{{ '[INST] ' + message['content'] + ' [/INST]' }}"), ChatFamily::kMistral);
  EXPECT_EQ(ChatTemplate::detect("{{ messages }}"), std::nullopt);
}

TEST(ChatTemplate, AnUnknownNameIsAnErrorNamingTheChoices) {
  try {
    ChatTemplate::by_name("vicuna");
    FAIL();
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("vicuna"), std::string::npos);
    for (const char* n : {"plain", "llama2", "llama3", "chatml", "mistral", "gemma", "phi3", "zephyr"}) {
      EXPECT_NE(m.find(n), std::string::npos) << n;
      EXPECT_EQ(ChatTemplate::name(ChatTemplate::by_name(n)), n);
    }
  }
}

TEST(ChatTemplate, RendersEachFamilysFormat) {
  const std::vector<ChatMessage> m = {{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello"}, {"user", "Bye"}};
  EXPECT_EQ(ChatTemplate(ChatFamily::kPlain).render(m), "Be brief.\nHi\nHello\nBye");
  EXPECT_EQ(ChatTemplate(ChatFamily::kChatML).render(m),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello"
            "<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(ChatTemplate(ChatFamily::kLlama3).render(m),
            "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>"
            "\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>user"
            "<|end_header_id|>\n\nBye<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_EQ(ChatTemplate(ChatFamily::kLlama2).render(m),
            "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello </s><s>[INST] Bye [/INST]");
  EXPECT_EQ(ChatTemplate(ChatFamily::kMistral).render(m), "[INST] Be brief.\n\nHi [/INST] Hello</s>[INST] Bye [/INST]");
  EXPECT_EQ(ChatTemplate(ChatFamily::kGemma).render(m),
            "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello<end_of_turn>\n"
            "<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n");
  EXPECT_EQ(ChatTemplate(ChatFamily::kPhi3).render(m),
            "<|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello<|end|>\n<|user|>\nBye<|end|>\n"
            "<|assistant|>\n");
  EXPECT_EQ(ChatTemplate(ChatFamily::kZephyr).render(m),
            "<|system|>\nBe brief.</s>\n<|user|>\nHi</s>\n<|assistant|>\nHello</s>\n<|user|>\nBye</s>\n<|assistant|>\n");
}

TEST(ChatTemplate, SpecialStringsBecomeControlIdsAndEndTheTurn) {
  // A small GPT-2-style vocab with ChatML's control tokens.
  Vocab v;
  v.kind = VocabKind::kGPT2BPE;
  for (int b = 0; b < 256; ++b) v.tokens.push_back("");
  // bytes_to_unicode: printable ASCII maps to itself.
  for (int b = 0; b < 256; ++b) v.tokens[b] = std::string(1, (char)(b >= 33 && b <= 126 ? b : 'a'));
  v.tokens.push_back("<|im_start|>");
  v.tokens.push_back("<|im_end|>");
  v.token_types.assign(v.tokens.size(), (int32_t)TokenType::kNormal);
  v.token_types[256] = v.token_types[257] = (int32_t)TokenType::kControl;
  v.add_bos = false;
  Tokenizer tok(std::move(v));
  ChatTemplate t(ChatFamily::kChatML);
  std::vector<int> ids = t.encode(tok, "<|im_start|>x<|im_end|>");
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[0], 256);
  EXPECT_EQ(ids[1], 'x');
  EXPECT_EQ(ids[2], 257);
  EXPECT_EQ(t.end_of_turn_ids(tok), std::vector<int>{257});
  EXPECT_TRUE(ChatTemplate(ChatFamily::kPlain).end_of_turn_ids(tok).empty());
}

TEST(ChatTemplate, ForAModelFileReadsTheGgufTemplateOrTheFlag) {
  const std::string dir = ::testing::TempDir();
  auto gguf = [&](const std::string& name, const std::optional<std::string>& jinja) {
    GgufWriter w;
    w.set_string("general.architecture", "llama");
    if (jinja) w.set_string("tokenizer.chat_template", *jinja);
    w.write(dir + name);
    return dir + name;
  };
  std::string why;
  const std::string chatml = gguf("chatml.gguf", "{% for m in messages %}<|im_start|>{{ m.role }}{% endfor %}");
  EXPECT_EQ(ChatTemplate::for_model(chatml, "", &why).family(), ChatFamily::kChatML);
  EXPECT_NE(why.find("detected"), std::string::npos);
  EXPECT_EQ(ChatTemplate::for_model(chatml, "gemma", &why).family(), ChatFamily::kGemma);  // the flag wins
  EXPECT_EQ(ChatTemplate::for_model(gguf("none.gguf", std::nullopt), "", &why).family(), ChatFamily::kPlain);
  EXPECT_EQ(ChatTemplate::for_model(testing::shared_path("models/stories260K/stories260K.bin"), "", &why).family(),
            ChatFamily::kPlain);
  try {
    ChatTemplate::for_model(gguf("odd.gguf", "{{ messages | tojson }}"), "", &why);
    FAIL() << "an unknown template must be an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--chat-template NAME with one of: plain, llama2"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace cascade
