#include "nodes/message.h"

namespace cascade {

const char* msg_type_name(MsgType t) {
  switch (t) {
    case MsgType::kStepBegin: return "StepBegin";
    case MsgType::kHidden: return "Hidden";
    case MsgType::kAttnRows: return "AttnRows";
    case MsgType::kPartial: return "Partial";
    case MsgType::kFinal: return "Final";
    case MsgType::kError: return "Error";
    case MsgType::kCacheRows: return "CacheRows";
    case MsgType::kMerged: return "Merged";
  }
  return "?";
}

}  // namespace cascade
