// MappedFile — a read-only memory map of a whole file.
//
// Model files are mapped rather than read so that F32 weights are used in
// place (no copy, pages shared between processes on one host).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace cascade {

class MappedFile {
 public:
  // Maps `path` read-only. Throws Error if it cannot be opened or mapped.
  static std::shared_ptr<MappedFile> open(const std::string& path);
  // Holds `bytes` in memory in place of the file `name` (which is only used in
  // error messages), so that a parser can be fed from memory (fuzzers, tests)
  // through the same code that reads mapped files.
  static std::shared_ptr<MappedFile> from_bytes(const std::string& name, std::vector<uint8_t> bytes);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile() = default;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
  bool mapped_ = false;         // data_ is an mmap of size_ bytes
  std::vector<uint8_t> bytes_;  // from_bytes: what data_ points into
};

}  // namespace cascade
