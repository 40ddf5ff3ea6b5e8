#include "rpc/node_limits.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace cascade {
namespace {

// How many of the positions [head, horizon) fall in class `idx` when runs of
// `block` positions are dealt to `k` classes in turn (Plan::comp_of with the
// CompNode block, Plan::shard_of with the attention block).
int64_t positions_of(const Plan& plan, int block, int k, int idx) {
  const int64_t n = std::max(0, plan.horizon() - plan.head());
  const int64_t cycle = (int64_t)block * k;
  return n / cycle * block + std::clamp<int64_t>(n % cycle - (int64_t)idx * block, 0, block);
}

std::string mib(int64_t bytes) { return std::to_string((bytes + (1 << 20) - 1) >> 20); }

}  // namespace

int64_t default_state_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page <= 0) return int64_t(8) << 30;
  return (int64_t)pages * page / 2;
}

std::string format_bytes(int64_t bytes) {
  char buf[32];
  if (bytes >= (int64_t(1) << 30))
    std::snprintf(buf, sizeof buf, "%.1f GiB", bytes / double(1 << 30));
  else if (bytes >= (int64_t(1) << 20))
    std::snprintf(buf, sizeof buf, "%.1f MiB", bytes / double(1 << 20));
  else
    std::snprintf(buf, sizeof buf, "%.1f KiB", bytes / 1024.0);
  return buf;
}

int64_t session_state_bound(const Plan& plan, const ModelConfig& cfg, NodeId self, int max_rows) {
  const int64_t L = cfg.n_layers, F = plan.front_layers(), blocks = std::max<int64_t>(0, L - F);
  const int64_t beta = plan.beta(), H = cfg.n_heads, KV = cfg.n_kv_heads;
  // Private rows are one coordinate wider per head (nodes/attn_mask.h).
  const int64_t hd = plan.is_private() ? cfg.head_dim + 1 : cfg.head_dim;
  const int64_t qd = H * hd, kvd = KV * hd;
  const int64_t slots = beta + 1;                  // β key shards and the client's head
  const int64_t per_layer = 512;                   // a block's empty containers
  int64_t floats = 0, bytes = L * per_layer;
  if (self.role == Role::kAttn) {
    const int a = plan.attn_q_shard(self.index), b = plan.attn_kv_shard(self.index);
    const int64_t keys = positions_of(plan, plan.attn_block(), plan.beta(), b);
    const int64_t queries = positions_of(plan, plan.attn_block(), plan.beta(), a);
    const int64_t q_rows = std::min<int64_t>(max_rows, queries), kv_rows = std::min<int64_t>(max_rows, keys);
    // The KV cache: k, v and the position of every key, in every block.
    bytes += keys * blocks * (2 * kvd * 4 + 4);
    // One step: q rows as they arrive, gathered, and the output and lse;
    // as a merger, every slot's partial of each row (and early ones);
    // k, v rows of every block in flight before they join the cache.
    floats += q_rows * (3 * qd + H + 2 * slots * (qd + H)) + kv_rows * blocks * 2 * kvd;
    bytes += (q_rows + kv_rows) * 4 * 4;  // positions, in messages and maps
  } else {
    const int64_t rows = std::min<int64_t>(
        max_rows, positions_of(plan, plan.comp_block(), plan.alpha(), self.index));
    // One step: h, q, k, v, every slot's partial and lse, the merged output,
    // the score shifts and masking scratch, the block's own scratch (two
    // rows of dim, two of the FFN's width); what it sends in a block (q rows
    // to β AttnNodes, k, v rows to β) and the cache rows it gathers over
    // every block for AttnNodes with no queries in the step.
    floats += rows * (cfg.dim + 3 * qd + 2 * kvd + slots * (qd + H) + H + 2 * (qd + kvd) +
                      2 * cfg.dim + 2 * (int64_t)cfg.hidden_dim + beta * (qd + 2 * kvd) + beta * blocks * 2 * kvd);
    bytes += rows * 16;
    // Private: the session's masks, drawn lazily: per block and kv head,
    // one per AttnNode and one per query shard, each four reflections and
    // a diagonal of hd' doubles (nodes/attn_mask.h).
    if (plan.is_private()) bytes += L * KV * (beta * beta + beta) * 6 * hd * 8;
  }
  return bytes + floats * 4;
}

void check_session_limits(const NodeLimits& limits, const Plan& plan, int64_t bound, int64_t held_by_others,
                          const std::string& node) {
  if (plan.horizon() > limits.max_positions)
    throw LimitError(node + " refused the session: its horizon is " + std::to_string(plan.horizon()) +
                     " positions, over this node's limit of " + std::to_string(limits.max_positions) +
                     " (--max-positions); use a shorter horizon or raise --max-positions");
  if (bound > limits.max_session_bytes)
    throw LimitError(node + " refused the session: it may hold up to " + format_bytes(bound) +
                     " of state, over this node's limit of " + format_bytes(limits.max_session_bytes) +
                     " per session (--max-session-mib " + mib(limits.max_session_bytes) +
                     "); use a shorter horizon or fewer rows per step, or raise --max-session-mib to at least " +
                     mib(bound));
  const int64_t total = limits.max_state_bytes > 0 ? limits.max_state_bytes : default_state_bytes();
  if (held_by_others + bound > total)
    throw LimitError(node + " refused the session: it may hold up to " + format_bytes(bound) + ", and open sessions " +
                     format_bytes(held_by_others) + " of this node's total " + format_bytes(total) +
                     " (--max-state-mib " + mib(total) + "); try later or raise --max-state-mib");
}

void check_message_limits(const NodeLimits& limits, const Message& m, const Plan& plan, const std::string& node) {
  const int horizon = plan.horizon();
  auto refuse = [&](const std::string& what) {
    throw LimitError(node + " refused a " + msg_type_name(m.type) + " message from " + m.from.name(plan.beta()) + ": " +
                     what);
  };
  const int64_t step_rows = (int64_t)m.pos_end - m.pos_begin;
  const int64_t rows = std::max<int64_t>({(int64_t)m.pos.size(), (int64_t)m.kv_pos.size(), step_rows});
  if (rows > limits.max_rows)
    refuse(std::to_string(rows) + " rows, over this node's limit of " + std::to_string(limits.max_rows) +
           " per message (--max-rows); send fewer positions per step or raise --max-rows");
  auto beyond = [&](int64_t p) {
    refuse("position " + std::to_string(p) + " is beyond the session's horizon of " + std::to_string(horizon) +
           " positions");
  };
  if (m.pos_end > horizon) beyond(m.pos_end - 1);
  for (int32_t p : m.pos)
    if (p >= horizon) beyond(p);
  for (int32_t p : m.kv_pos)
    if (p >= horizon) beyond(p);
}

}  // namespace cascade
