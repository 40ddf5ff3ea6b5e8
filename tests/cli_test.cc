// End-to-end: the `cascade` binary, as a user runs it.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/test_util.h"

namespace cascade {
namespace {

struct CmdResult {
  int rc;
  std::string out;  // stdout
  std::string err;  // stderr
};

CmdResult run(const std::string& args) {
  std::string errfile = testing::temp_dir() + "/stderr";
  std::string cmd = std::string(CASCADE_BIN) + " " + args + " 2>" + errfile;
  CmdResult r{};
  FILE* p = popen(cmd.c_str(), "r");
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int st = pclose(p);
  r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  std::ifstream f(errfile);
  r.err.assign(std::istreambuf_iterator<char>(f), {});
  return r;
}

nlohmann::json reference() {
  std::ifstream f(testing::shared_path("models/stories260K/golden.json"));
  return nlohmann::json::parse(f)["reference_text"];
}

// llama2.c's `run stories260K.bin -t 0 -n 200` (200 steps: 200 tokens after BOS).
TEST(Cli, ReferenceText200IsByteIdentical) {
  const std::string model = testing::shared_path("models/stories260K/stories260K.bin");
  const std::string want = reference()["n200_from_bos"].get<std::string>() + "\n";
  for (std::string extra : {"", "--cascade 8,8,6,3"}) {
    CmdResult r = run("generate -m " + model + " -p '' -n 200 " + extra);
    EXPECT_EQ(r.rc, 0) << r.err;
    EXPECT_EQ(r.out, want) << extra;
  }
}

TEST(Cli, PromptedReferenceTextMatchesFromBinAndGguf) {
  const std::string want = reference()["n64_prompt_once_upon_a_time"].get<std::string>() + "\n";
  for (std::string file : {"stories260K.bin", "stories260K.gguf"}) {
    // run.c's -n 64 counts positions: 4 prompt pieces after BOS + 60 new.
    CmdResult r = run("generate -m " + testing::shared_path("models/stories260K/" + file) +
                " -p 'Once upon a time' -n 60 --cascade 3,3,2,1");
    EXPECT_EQ(r.rc, 0) << r.err;
    EXPECT_EQ(r.out, want) << file;
  }
}

TEST(Cli, BadInputIsOneLineAndNonZeroExit) {
  std::string dir = testing::temp_dir();
  {
    std::ofstream(dir + "/junk.gguf") << "GGUF";
    std::ofstream(dir + "/text.bin") << "hello";
  }
  const std::string model = testing::shared_path("models/stories260K/stories260K.bin");
  for (std::string args :
       {"generate -m " + dir + "/missing.gguf -p hi", "generate -m " + dir + "/junk.gguf -p hi",
        "generate -m " + dir + "/text.bin -p hi", "generate -m " + dir + " -p hi",
        "generate -m " + model + " -p hi --cascade 2,2,2,3",
        "generate -m " + model + " -p hi --cascade x,y",
        "generate -m " + model + " -p hi -t -1",
        "plan -m " + model + " --alpha 1 --beta 8 --c 6 --delta 3",
        "audit -m " + model + " --layer 2", "audit -m " + model + " --views --table t.md",
        "audit -m " + model + " --prompts 1 --min-len 20 --max-len 8",
        "synth --preset tiny-llama --type q9_9 -o " + dir + "/bad-type.gguf",
        "plan -m " + model + " --target 2", "plan -m " + model + " --target 0.01 --max-nodes 5",
        "generate -m " + model + " -p hi --cascade 2,3 --protocol secret"}) {
    CmdResult r = run(args);
    EXPECT_NE(r.rc, 0) << args;
    EXPECT_LT(r.rc, 128) << "crashed: " << args;
    EXPECT_NE(r.err.find("error: "), std::string::npos) << args << "\n" << r.err;
    // The error itself is a single line.
    auto pos = r.err.find("error: ");
    if (pos != std::string::npos) EXPECT_EQ(r.err.find('\n', pos), r.err.size() - 1) << r.err;
  }
}

// Quantized files (mixed K-quants, Q6_K, Q4_0) generate the same text in
// the plaintext engine, through --cascade 4,4 and through `cascade run`,
// with weights expanded to fp32 or kept quantized in memory.
TEST(Cli, QuantizedFilesGiveTheSameTextOnEveryPath) {
  const std::string dir = testing::temp_dir();
  for (std::string type : {"q4_k_m", "q6_k", "q4_0"}) {
    const std::string file = dir + "/" + type + ".gguf";
    CmdResult s = run("synth --preset tiny-llama --dim 256 --hidden 512 --heads 4 --kv-heads 2 --context 256 --type " +
                      type + " -o " + file);
    ASSERT_EQ(s.rc, 0) << s.err;
    std::string first;
    for (std::string mode : {"generate", "generate --cascade 4,4", "run", "generate --keep-quantized",
                             "generate --keep-quantized --cascade 4,4"}) {
      CmdResult r = run(mode + " -m " + file + " -p 'abc def' -n 12 --no-stop");
      EXPECT_EQ(r.rc, 0) << type << " " << mode << ": " << r.err;
      EXPECT_GT(r.out.size(), std::string("abc def").size()) << type << " " << mode;
      if (first.empty()) first = r.out;
      EXPECT_EQ(r.out, first) << type << " " << mode;
    }
  }
  EXPECT_FALSE(std::ifstream(dir + "/bad-type.gguf").good());
}

// serve checks every option, and binds its port, before it loads the model.
TEST(Cli, ServeRefusesBadOptionsBeforeLoadingTheModel) {
  // A port that is busy: a socket of this test listens on it.
  const int busy = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(busy, (sockaddr*)&addr, sizeof addr), 0);
  ASSERT_EQ(listen(busy, 1), 0);
  socklen_t len = sizeof addr;
  getsockname(busy, (sockaddr*)&addr, &len);
  const std::string port = std::to_string(ntohs(addr.sin_port));
  const std::string model = testing::shared_path("models/stories260K/stories260K.bin");
  for (std::string args : {"serve -m " + model + " --chat-template vicuna",
                           "serve -m " + testing::temp_dir() + "/missing.bin",
                           "serve -m " + model + " --listen 127.0.0.1:70000",
                           "serve -m " + model + " --cascade x,y",
                           "serve -m " + model + " --parallel 0",
                           "serve -m " + model + " --listen 127.0.0.1:" + port}) {
    CmdResult r = run(args);
    EXPECT_NE(r.rc, 0) << args;
    EXPECT_LT(r.rc, 128) << "crashed: " << args;
    EXPECT_EQ(r.err.find("loading "), std::string::npos) << "checked only after loading: " << args << "\n" << r.err;
    const auto pos = r.err.find("error");
    ASSERT_NE(pos, std::string::npos) << args << "\n" << r.err;
    EXPECT_EQ(r.err.find('\n', pos), r.err.size() - 1) << r.err;
  }
  close(busy);
}

// Every kernel path this CPU has gives llama2.c's text; a path it lacks or an
// unknown name is a one-line error before any work.
TEST(Cli, KernelPathFromEnvironment) {
  const std::string model = testing::shared_path("models/stories260K/stories260K.bin");
  const std::string want = reference()["n200_from_bos"].get<std::string>() + "\n";
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
  for (auto [isa, ok] : {std::pair<const char*, bool>{"scalar", true}, {"avx2", avx2}, {"avx512", avx512}, {"sse9", false}}) {
    setenv("CASCADE_ISA", isa, 1);
    CmdResult r = run("generate -m " + model + " -p '' -n 200");
    if (ok) {
      EXPECT_EQ(r.rc, 0) << isa << ": " << r.err;
      EXPECT_EQ(r.out, want) << isa;
    } else {
      EXPECT_EQ(r.rc, 1) << isa;
      EXPECT_EQ(r.out, "") << isa;
      EXPECT_EQ(r.err.rfind("error: CASCADE_ISA=", 0), 0u) << r.err;
      EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;
    }
  }
  unsetenv("CASCADE_ISA");
}

TEST(Cli, PlanPrintsViewsAndWritesJson) {
  std::string json = testing::temp_dir() + "/plan.json";
  CmdResult r = run("plan -m " + testing::shared_path("models/stories260K/stories260K.bin") +
              " --alpha 8 --beta 8 --c 6 --delta 3 --json " + json);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("attn(7,7)"), std::string::npos);
  std::ifstream f(json);
  auto j = nlohmann::json::parse(f);
  EXPECT_EQ(j["nodes"], 72);
  EXPECT_EQ(j["views"].size(), 72u);
}

// The recorded audit end to end on a tiny run: table on stdout, JSON and
// markdown files.
TEST(Cli, AuditOfRecordingsWritesJsonAndTable) {
  const std::string dir = testing::temp_dir();
  CmdResult r = run("audit -m " + testing::shared_path("models/stories260K/stories260K.bin") +
                    " --prompts 1 --canaries 1 --min-len 8 --max-len 10 --comp-only --skip-no-prior --coalition 2 --protocol paper"
                    " --json " + dir + "/a.json --table " + dir + "/a.md");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("| comp3 | node | partial |"), std::string::npos) << r.out;
  std::ifstream f(dir + "/a.json");
  auto j = nlohmann::json::parse(f);
  EXPECT_EQ(j["protocol"], "paper");
  EXPECT_GE(j["parties"].size(), 4u);
  EXPECT_EQ(j["baselines"][0]["attack"], "prior_greedy");
  EXPECT_GT(j["baselines"][0]["canary_positions"].get<int>(), 0);
  std::ifstream t(dir + "/a.md");
  EXPECT_TRUE(t.good());
}

// `cascade cert` makes the folder's CA once, and signs later certificates
// with that same CA.
TEST(Cli, CertMakesTheCaOnceAndReusesIt) {
  const std::string dir = testing::temp_dir() + "/certs";
  auto slurp = [](const std::string& p) {
    std::ifstream f(p);
    return std::string(std::istreambuf_iterator<char>(f), {});
  };
  CmdResult r = run("cert --dir " + dir + " client comp0");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("ca.key (keep the key private)"), std::string::npos) << r.err;
  const std::string ca = slurp(dir + "/ca.pem");
  EXPECT_NE(ca.find("BEGIN CERTIFICATE"), std::string::npos);
  for (const char* f : {"client.pem", "client.key", "comp0.pem", "comp0.key"})
    EXPECT_FALSE(slurp(dir + "/" + f).empty()) << f;
  r = run("cert --dir " + dir + " attn0 --host 10.0.0.7");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.err.find("ca.key"), std::string::npos) << "the CA was made again: " << r.err;
  EXPECT_EQ(slurp(dir + "/ca.pem"), ca);
  EXPECT_FALSE(slurp(dir + "/attn0.pem").empty());
}

}  // namespace
}  // namespace cascade
