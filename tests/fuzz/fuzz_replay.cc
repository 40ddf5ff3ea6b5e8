// fuzz_replay TARGET PATH... — runs a fuzz target's LLVMFuzzerTestOneInput
// over files (folders: every file in them, recursively, in name order)
// without libFuzzer, so that the normal build's ctest replays the checked-in
// corpora (tests/fuzz/corpus/TARGET) and a crash found once stays fixed.
// tests/tests.cmake compiles each tests/fuzz/fuzz_TARGET.cc into this binary
// with its entry point renamed to cascade_fuzz_TARGET.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#define CASCADE_FUZZ_TARGETS(X) X(gguf) X(llama2c) X(tokenizer) X(wire) X(manifest) X(api_request) X(plan)

#define CASCADE_DECLARE(name) extern "C" int cascade_fuzz_##name(const uint8_t*, size_t);
CASCADE_FUZZ_TARGETS(CASCADE_DECLARE)

namespace {

using Entry = int (*)(const uint8_t*, size_t);

struct Target {
  const char* name;
  Entry entry;
};

#define CASCADE_ENTRY(name) {#name, cascade_fuzz_##name},
const Target kTargets[] = {CASCADE_FUZZ_TARGETS(CASCADE_ENTRY)};

}  // namespace

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  const Target* target = nullptr;
  for (const Target& t : kTargets)
    if (argc > 1 && std::strcmp(argv[1], t.name) == 0) target = &t;
  if (!target || argc < 3) {
    std::fprintf(stderr, "usage: fuzz_replay TARGET PATH...  (TARGET: ");
    for (const Target& t : kTargets) std::fprintf(stderr, "%s ", t.name);
    std::fprintf(stderr, ")\n");
    return 2;
  }
  std::vector<fs::path> files;
  for (int i = 2; i < argc; ++i) {
    std::error_code ec;
    if (fs::is_directory(argv[i], ec)) {
      for (const auto& e : fs::recursive_directory_iterator(argv[i]))
        if (e.is_regular_file()) files.push_back(e.path());
    } else if (fs::is_regular_file(argv[i], ec)) {
      files.push_back(argv[i]);
    } else {
      std::fprintf(stderr, "fuzz_replay: %s is neither a file nor a folder\n", argv[i]);
      return 2;
    }
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    std::fprintf(stderr, "fuzz_replay: no corpus files under the paths given\n");
    return 2;
  }
  for (const fs::path& f : files) {
    std::ifstream in(f, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    target->entry(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }
  std::printf("fuzz_replay %s: %zu inputs, no crash\n", target->name, files.size());
  return 0;
}
