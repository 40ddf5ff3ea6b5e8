// The HTTP API: what a client of /v1/completions gets equals the engine's own
// generation, streamed or not, and bad requests get a 400 with a message.
#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "client/generate.h"
#include "model/loader.h"
#include "serve/completion_server.h"
#include "tests/test_util.h"
#include "transport/local_cluster.h"

namespace cascade {
namespace {

using nlohmann::json;

class Serve : public ::testing::Test {
 protected:
  void SetUp() override {
    lm_ = load_model(testing::shared_path("models/stories260K/stories260K.bin"));
    tok_ = std::make_unique<Tokenizer>(std::move(*lm_.vocab));
    plan_ = std::make_unique<Plan>(Plan::make({.alpha = 3, .beta = 3, .c = 2, .delta = 1}, lm_.model.cfg));
    port_ = server_.bind("127.0.0.1", 0);
    http_ = std::thread([this] { server_.serve(); });
    client_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
    client_->set_read_timeout(30, 0);
  }
  void TearDown() override {
    server_.stop();
    http_.join();
  }
  void make_ready() {
    server_.ready("stories260K", tok_.get(),
                  [this] { return std::unique_ptr<Backend>(std::make_unique<LocalCluster>(lm_.model, *plan_)); });
  }
  std::string expected(const std::string& prompt, int n) {
    PlainBackend plain(lm_.model);
    return generate(plain, *tok_, prompt, {.max_new_tokens = n}).text;
  }

  LoadedModel lm_;
  std::unique_ptr<Tokenizer> tok_;
  std::unique_ptr<Plan> plan_;
  CompletionServer server_;
  std::thread http_;
  int port_ = 0;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(Serve, HealthIs503UntilReady) {
  auto r = client_->Get("/health");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  make_ready();
  r = client_->Get("/health");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(Serve, CompletionEqualsTheEnginesGeneration) {
  make_ready();
  auto r = client_->Post("/v1/completions", R"({"prompt":"Once upon a time","max_tokens":40})", "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  EXPECT_EQ(j["choices"][0]["text"], expected("Once upon a time", 40));
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(j["usage"]["completion_tokens"], 40);
}

TEST_F(Serve, StreamedPiecesConcatenateToTheSameText) {
  make_ready();
  std::string body;
  auto r = client_->Post("/v1/completions", R"({"prompt":"Tom and his dog","max_tokens":25,"stream":true})",
                         "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  std::string text, finish;
  size_t pos = 0;
  bool done = false;
  while ((pos = r->body.find("data: ", pos)) != std::string::npos) {
    size_t end = r->body.find("\n\n", pos);
    std::string payload = r->body.substr(pos + 6, end - pos - 6);
    pos = end;
    if (payload == "[DONE]") {
      done = true;
      break;
    }
    json j = json::parse(payload);
    text += j["choices"][0]["text"].get<std::string>();
    if (!j["choices"][0]["finish_reason"].is_null()) finish = j["choices"][0]["finish_reason"];
  }
  EXPECT_TRUE(done);
  EXPECT_EQ(text, expected("Tom and his dog", 25));
  EXPECT_EQ(finish, "length");
}

TEST_F(Serve, BadRequestsGet400WithAMessage) {
  make_ready();
  for (const char* body : {"not json", R"({"max_tokens":3})", R"({"prompt":"x","temperature":-1})",
                           R"({"prompt":"x","max_tokens":-5})", R"({"prompt":"x","top_p":"high"})"}) {
    auto r = client_->Post("/v1/completions", body, "application/json");
    ASSERT_TRUE(r) << body;
    EXPECT_EQ(r->status, 400) << body;
    EXPECT_TRUE(json::parse(r->body)["error"]["message"].is_string()) << r->body;
  }
  auto m = client_->Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_NE(m->body.find("cascade_requests_failed_total 5"), std::string::npos) << m->body;
}

}  // namespace
}  // namespace cascade
