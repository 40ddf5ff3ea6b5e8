// Message — the only thing Cascade's roles exchange.
//
// Roles (Client, CompNode, AttnNode) are message handlers: they receive a
// Message, compute, and send Messages through an Outbox. The in-process bus
// and the gRPC transport both just move these structs, so the roles do not
// know which one they run on.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "plan/plan.h"

namespace cascade {

// Append-only: values go on the wire.
enum class MsgType : int32_t {
  kStepBegin = 0,  // client → node: new positions [pos_begin, pos_end)
  kHidden = 1,     // client → CompNode: h^F rows (rows, pos)
  kAttnRows = 2,   // CompNode → AttnNode / client: q rows (rows, pos), k,v rows (k, v, kv_pos)
  kPartial = 3,    // paper: AttnNode / client → CompNode; private: AttnNode / client → the
                   // query shard's merger AttnNode. Partial outputs (rows, pos) and lse
  kFinal = 4,      // CompNode → client: last block's output rows (rows, pos)
  kError = 5,      // node → client: the session failed (text names the node and why)
  kCacheRows = 6,  // CompNode → AttnNode with no queries in the step: k,v rows of every
                   // block [F, L) at once (kv_pos; k, v as [L-F][kv_pos][kv_dim]), sent
                   // after the last block, since they are needed only by later steps
  kMerged = 7,     // private: merger AttnNode → CompNode: the masked, merged attention
                   // output of its rows over every key (rows, pos; no lse)
};

// Step flags.
constexpr int32_t kWantAllRows = 1;  // return every final row, not only the last

struct Message {
  MsgType type = MsgType::kStepBegin;
  NodeId from, to;
  uint64_t session = 0;
  int32_t step = 0;
  int32_t layer = 0;
  int32_t pos_begin = 0, pos_end = 0;  // kStepBegin
  int32_t flags = 0;                   // kStepBegin
  std::vector<int32_t> pos;            // positions of `rows`
  std::vector<float> rows;             // [pos.size()][width]
  std::vector<int32_t> kv_pos;         // positions of k and v
  std::vector<float> k, v;             // [kv_pos.size()][kv_dim]
  std::vector<float> lse;              // [pos.size()][n_heads]
  std::string text;                    // kError

  // Bytes its arrays hold in memory (their capacity).
  size_t held_bytes() const {
    return 4 * (pos.capacity() + rows.capacity() + kv_pos.capacity() + k.capacity() + v.capacity() + lse.capacity()) +
           text.capacity();
  }
  // Bytes of the payload as it travels (positions + floats + fixed header).
  size_t wire_bytes() const {
    return 48 + 4 * (pos.size() + rows.size() + kv_pos.size() + k.size() + v.size() + lse.size());
  }
};

const char* msg_type_name(MsgType t);

class Outbox {
 public:
  virtual ~Outbox() = default;
  virtual void send(Message m) = 0;
};

// An Outbox that keeps what is sent, in send order, for the caller to pass on.
struct MessageList : Outbox {
  std::vector<Message> msgs;
  void send(Message m) override { msgs.push_back(std::move(m)); }
};

}  // namespace cascade
