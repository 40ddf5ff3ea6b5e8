// MessageRecorder — a copy of every message each role receives.
//
// The privacy audit attacks what nodes really get, not a model of it: a
// transport that delivers messages (LocalCluster) hands each one to the
// recorder just before the receiving role handles it. The recorder keeps
// them in delivery order; received_by() gives one role's inbox, which is
// exactly that role's view of the session (every kind, every block, every
// step, the prompt's and the generated tokens').
#pragma once

#include <mutex>
#include <vector>

#include "nodes/message.h"

namespace cascade {

class MessageRecorder {
 public:
  // Keeps a copy of m. Safe to call from several threads.
  void record(const Message& m);

  // Every message recorded, in delivery order.
  const std::vector<Message>& messages() const { return msgs_; }
  // The messages addressed to `node`, in delivery order.
  std::vector<Message> received_by(const NodeId& node) const;
  void clear() { msgs_.clear(); }

 private:
  std::mutex mu_;
  std::vector<Message> msgs_;
};

}  // namespace cascade
