#include "tests/test_util.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

namespace cascade::testing {

std::string shared_path(const std::string& rel) {
  std::string p = std::string(CASCADE_SHARED_DIR) + "/" + rel;
  if (!std::filesystem::exists(p)) {
    ADD_FAILURE() << "missing shared file " << p
                  << ": the tests need ../shared/ beside the checkout (CI provides it)";
    throw std::runtime_error("missing " + p);
  }
  return p;
}

std::string temp_dir() {
  static std::string base;
  if (base.empty()) {
    char tmpl[] = "/tmp/cascade-test-XXXXXX";
    base = mkdtemp(tmpl);
    std::atexit([] { std::filesystem::remove_all(base); });
  }
  static int n = 0;
  std::string d = base + "/" + std::to_string(n++);
  std::filesystem::create_directories(d);
  return d;
}

}  // namespace cascade::testing
