// Node limits — what one client may make a node hold (docs/RELIABILITY.md,
// "Limits").
//
// A node takes sessions from any holder of a client certificate. Without
// limits, one such client could open sessions until the node runs out of
// memory, or ask for a horizon whose KV cache no machine holds. So each
// node bounds, with flags of `cascade node`:
//   --max-sessions N      open sessions;
//   --max-session-mib N   the state one session may make it hold: bounded
//                         upfront from the plan (session_state_bound) and
//                         checked again as it actually grows;
//   --max-state-mib N     the state of all sessions together (the bounds of
//                         the open sessions, and what they actually hold);
//   --max-positions N     a session's horizon: every position it may use;
//   --max-rows N          rows (positions) in one message, hence one step.
// Every refusal is one line naming the node, the limit and the flag that
// raises it.
#pragma once

#include <cstdint>
#include <string>

#include "nodes/message.h"
#include "plan/plan.h"
#include "util/error.h"

namespace cascade {

struct NodeLimits {
  int max_sessions = 64;
  int64_t max_session_bytes = int64_t(4) << 30;
  int64_t max_state_bytes = 0;  // 0: default_state_bytes()
  int max_positions = 32768;
  int max_rows = 8192;
};

// The default total budget: half of this machine's physical memory.
int64_t default_state_bytes();

// A limit refused something; the node answers RESOURCE_EXHAUSTED.
struct LimitError : Error {
  using Error::Error;
};

// At most how many bytes of state the role `self` holds for a session of
// `plan` over a model of shape `cfg`, when no message has more than
// `max_rows` rows: an AttnNode's KV cache (every key of its shard within
// the horizon, every block it serves) plus what one step may hold at once
// (rows being gathered, partials being merged, a CompNode's block buffers
// and the rows it sends). Over-estimates rather than under-.
int64_t session_state_bound(const Plan& plan, const ModelConfig& cfg, NodeId self, int max_rows);

// Throws LimitError when the session of `plan` breaks a limit before it is
// opened: its horizon is over max_positions, its state bound is over
// max_session_bytes, or (with `held_by_others` bytes already reserved by
// open sessions) over the total. `node` names the refusing node.
void check_session_limits(const NodeLimits& limits, const Plan& plan, int64_t bound, int64_t held_by_others,
                          const std::string& node);

// Throws LimitError when `m` has more rows than max_rows, or a position at
// or beyond the horizon of the session's `plan`.
void check_message_limits(const NodeLimits& limits, const Message& m, const Plan& plan, const std::string& node);

// "1.5 GiB", "12.0 MiB", "256.0 KiB": how refusals show sizes.
std::string format_bytes(int64_t bytes);

}  // namespace cascade
