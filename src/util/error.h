// cascade::Error — the one exception type the library throws for bad input.
//
// Its message is a single line meant for a user: what is wrong and, where we
// know it, what to do. The CLI prints it after "error: " and exits non-zero.
#pragma once

#include <concepts>
#include <stdexcept>
#include <string>
#include <utility>

namespace cascade {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Throws Error(msg) when cond is false. For input validation, not for bugs.
// A message that has to be built (concatenated, formatted) is passed as a
// callable returning it, so that a check that passes builds nothing:
//   check(n > 0, [&] { return "bad n " + std::to_string(n); });
inline void check(bool cond, const char* msg) {
  if (!cond) [[unlikely]]
    throw Error(msg);
}
inline void check(bool cond, const std::string& msg) {
  if (!cond) [[unlikely]]
    throw Error(msg);
}
template <std::invocable MakeMessage>
void check(bool cond, MakeMessage&& make_message) {
  if (!cond) [[unlikely]]
    throw Error(std::forward<MakeMessage>(make_message)());
}

}  // namespace cascade
