#include "tests/test_util.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "util/error.h"

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

namespace {

float max_abs_diff(const float* a, const float* b, size_t n) {
  float m = 0;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

}  // namespace

float max_abs_diff(const float* a, const std::vector<float>& b) { return max_abs_diff(a, b.data(), b.size()); }

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  return max_abs_diff(a.data(), b.data(), std::min(a.size(), b.size()));
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace cascade::testing
