// Helpers shared by the fuzz targets (tests/fuzz/fuzz_*.cc).
//
// Each target defines LLVMFuzzerTestOneInput and feeds the input to one
// parser through the functions production code calls. cascade::Error (and
// the server's ApiError) is the expected way to refuse bad input and is
// caught; anything else escaping -- another exception, a crash, a sanitizer
// report -- is a bug the fuzzer reports. fuzz_replay.cc runs the same
// functions over tests/fuzz/corpus in the normal build.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

namespace cascade::fuzz {

// Splits one fuzz input into fields: fixed-width integers from the front and
// length-prefixed byte strings, zero/empty once the input runs out.
class Input {
 public:
  Input(const uint8_t* data, size_t size) : p_(data), n_(size) {}
  template <typename T>
  T take() {
    T v{};
    if (n_ >= sizeof(T)) {
      std::memcpy(&v, p_, sizeof(T));
      p_ += sizeof(T);
      n_ -= sizeof(T);
    }
    return v;
  }
  // A u32 length, then that many bytes (fewer when the input is shorter).
  std::string take_string() {
    size_t len = take<uint32_t>();
    if (len > n_) len = n_;
    std::string s(reinterpret_cast<const char*>(p_), len);
    p_ += len;
    n_ -= len;
    return s;
  }
  std::string rest() {
    std::string s(reinterpret_cast<const char*>(p_), n_);
    p_ += n_;
    n_ = 0;
    return s;
  }

 private:
  const uint8_t* p_;
  size_t n_;
};

// Loggers off: a fuzzer runs millions of inputs.
inline void quiet() {
  static const bool once = [] {
    spdlog::set_level(spdlog::level::off);
    return true;
  }();
  (void)once;
}

}  // namespace cascade::fuzz
