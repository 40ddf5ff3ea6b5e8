#include "nodes/message_recorder.h"

namespace cascade {

void MessageRecorder::record(const Message& m) {
  std::lock_guard<std::mutex> lock(mu_);
  msgs_.push_back(m);
}

std::vector<Message> MessageRecorder::received_by(const NodeId& node) const {
  std::vector<Message> out;
  for (const Message& m : msgs_)
    if (m.to == node) out.push_back(m);
  return out;
}

}  // namespace cascade
