#include "util/atomic_file.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "util/error.h"

namespace cascade {

void write_file_atomic(const std::string& path, const std::string& contents) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    check(f.good(), "cannot write '" + tmp + "'");
    f.write(contents.data(), (std::streamsize)contents.size());
    f.close();
    if (!f) {
      std::filesystem::remove(tmp);
      throw Error("failed writing '" + path + "' (disk full?)");
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp);
    throw Error("cannot rename '" + tmp + "' to '" + path + "': " + ec.message());
  }
}

}  // namespace cascade
