// Helpers shared by the tests: where the shared models live.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace cascade::testing {

// Absolute path of a file under ../shared (e.g. "models/stories260K/golden.json").
// Fails the calling test loudly when the file is missing, with a hint; under
// CI (CI=true) that is always a failure, never a skip.
std::string shared_path(const std::string& rel);

// A fresh empty directory for the calling test's files, removed at exit.
std::string temp_dir();

// Largest |a[i] - b[i]| over b's elements (a has at least as many).
float max_abs_diff(const float* a, const std::vector<float>& b);
// The same over two vectors; a gtest failure when their sizes differ.
float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b);

// The message of the cascade::Error `f` throws, or "no error".
std::string error_of(const std::function<void()>& f);

}  // namespace cascade::testing
