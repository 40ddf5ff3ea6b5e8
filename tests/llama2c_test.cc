// llama2.c checkpoints: bad files get one clear Error, never a crash.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "model/loader.h"
#include "tests/test_util.h"
#include "util/error.h"

namespace cascade {
namespace {

std::vector<char> read_all(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

std::string write(const std::string& name, const std::vector<char>& bytes) {
  std::string p = testing::temp_dir() + "/" + name;
  std::ofstream(p, std::ios::binary).write(bytes.data(), (std::streamsize)bytes.size());
  return p;
}

std::string error_of(const std::string& path, LoadOptions o = {.require_tokenizer = false}) {
  try {
    load_model(path, o);
  } catch (const Error& e) {
    return e.what();
  }
  return "loaded";
}

TEST(Llama2c, LoadsWithTokenizerFoundBesideIt) {
  LoadedModel lm = load_model(testing::shared_path("models/stories260K/stories260K.bin"));
  ASSERT_TRUE(lm.vocab.has_value());
  EXPECT_EQ(lm.vocab->tokens.size(), 512u);
  EXPECT_EQ(lm.model.lm_head, lm.model.token_embd);  // shared classifier
  EXPECT_EQ(lm.model.file_sha256, "b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696");
}

TEST(Llama2c, TruncatedFilesAreRefused) {
  auto bytes = read_all(testing::shared_path("models/stories260K/stories260K.bin"));
  for (size_t cut : {size_t(0), size_t(3), size_t(20), size_t(28), size_t(1000), bytes.size() / 2, bytes.size() - 1}) {
    std::vector<char> b(bytes.begin(), bytes.begin() + cut);
    std::string e = error_of(write("cut" + std::to_string(cut) + ".bin", b));
    EXPECT_TRUE(e.find("truncated") != std::string::npos || e.find("too short") != std::string::npos ||
                e.find("neither a GGUF") != std::string::npos)
        << cut << ": " << e;
  }
}

TEST(Llama2c, AbsurdHeadersAreRefused) {
  auto bytes = read_all(testing::shared_path("models/stories260K/stories260K.bin"));
  auto patched = [&](int field, int32_t value) {
    std::vector<char> b = bytes;
    std::memcpy(b.data() + 4 * field, &value, 4);
    return write("f" + std::to_string(field) + "_" + std::to_string(value) + ".bin", b);
  };
  EXPECT_NE(error_of(patched(0, 1 << 30)).find("neither a GGUF"), std::string::npos);  // dim
  EXPECT_NE(error_of(patched(4, 3)).find("not a multiple"), std::string::npos);        // kv heads
  EXPECT_NE(error_of(patched(1, 100000)).find("truncated"), std::string::npos);        // hidden
  EXPECT_NE(error_of(patched(5, -512)).find("truncated"), std::string::npos);  // separate classifier missing
}

TEST(Llama2c, MissingTokenizerIsAClearError) {
  auto bytes = read_all(testing::shared_path("models/stories260K/stories260K.bin"));
  std::string p = write("alone.bin", bytes);
  std::string e = error_of(p, {});
  EXPECT_NE(e.find("no tokenizer"), std::string::npos) << e;
  EXPECT_NE(e.find("--tokenizer"), std::string::npos) << e;
  EXPECT_NE(error_of(p, {.tokenizer_path = p + ".nope"}).find(".nope"), std::string::npos);
}

}  // namespace
}  // namespace cascade
