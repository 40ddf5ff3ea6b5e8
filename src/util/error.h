// cascade::Error — the one exception type the library throws for bad input.
//
// Its message is a single line meant for a user: what is wrong and, where we
// know it, what to do. The CLI prints it after "error: " and exits non-zero.
#pragma once

#include <stdexcept>
#include <string>

namespace cascade {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Throws Error(msg) when cond is false. For input validation, not for bugs.
inline void check(bool cond, const std::string& msg) {
  if (!cond) throw Error(msg);
}

}  // namespace cascade
