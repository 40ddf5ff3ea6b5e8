// write_file_atomic — write a whole file or nothing: data goes to PATH.tmp,
// which is renamed over PATH only once complete (no partial file on failure).
#pragma once

#include <string>

namespace cascade {

void write_file_atomic(const std::string& path, const std::string& contents);

}  // namespace cascade
