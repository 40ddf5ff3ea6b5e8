// write_file_atomic — a whole file or nothing: data goes to a temporary file
// in the same folder (fsync'd), which is renamed over PATH only once
// complete, so a failure never leaves a partial file behind.
#pragma once

#include <string>

namespace cascade {

// Throws Error naming the path. `mode` is applied exactly (0600 for keys),
// whatever the umask.
void write_file_atomic(const std::string& path, const std::string& data, unsigned mode = 0644);

}  // namespace cascade
