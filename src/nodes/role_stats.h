// RoleStats — what a role received and sent, for tests and benchmarks.
#pragma once

#include <cstdint>
#include <map>
#include <set>

#include "nodes/message.h"

namespace cascade {

struct RoleStats {
  int64_t msgs_in = 0, msgs_out = 0;
  int64_t bytes_in = 0, bytes_out = 0;
  std::map<int, int64_t> bytes_out_by_layer, bytes_in_by_layer;
  std::set<int> positions_seen;  // every position whose row arrived here

  void received(const Message& m) {
    const int64_t b = (int64_t)m.wire_bytes();
    msgs_in++;
    bytes_in += b;
    bytes_in_by_layer[m.layer] += b;
  }
  void sent(const Message& m) {
    const int64_t b = (int64_t)m.wire_bytes();
    msgs_out++;
    bytes_out += b;
    bytes_out_by_layer[m.layer] += b;
  }
};

}  // namespace cascade
