#include "rpc/failover_backend.h"

#include <chrono>

#include "util/error.h"

namespace cascade {
namespace {
// Each failover consumes a spare or finds a report already answered, so the
// loops end; this bounds them all the same.
constexpr int kMaxAttempts = 64;
}  // namespace

FailoverBackend::FailoverBackend(const Model& model, const Plan& plan, std::shared_ptr<SparePool> pool,
                                 RemoteClusterOptions base, Notice notice)
    : model_(model), plan_(plan), pool_(std::move(pool)), base_(std::move(base)), notice_(std::move(notice)) {
  for (int attempt = 0;; ++attempt) {
    try {
      open();
      return;
    } catch (const NodeFailure& f) {
      if (attempt + 1 >= kMaxAttempts) throw;
      fail_over(f);
    }
  }
}

std::unique_ptr<FailoverBackend> FailoverBackend::from_manifest(const Model& model, const ClusterManifest& m,
                                                                RemoteClusterOptions base, Notice notice) {
  base.tls = load_tls_identity(m.ca, m.client_cert, m.client_key);
  base.listen = m.client_listen;
  base.advertise = m.client_advertise;
  auto pool = std::make_shared<SparePool>(m.nodes, m.spares, base.tls, model.file_sha256, base.link);
  return std::make_unique<FailoverBackend>(model, Plan::make(m.plan, model.cfg), std::move(pool), std::move(base),
                                           std::move(notice));
}

void FailoverBackend::open() {
  cluster_.reset();  // closes the old session first, on the nodes still there
  Placement p = pool_->placement();
  RemoteClusterOptions o = base_;
  o.identities = std::move(p.identities);
  cluster_ = std::make_unique<RemoteCluster>(model_, plan_, std::move(p.nodes), std::move(o));
}

void FailoverBackend::fail_over(const NodeFailure& f) {
  auto outcome = pool_->replace(f.node, f.address);
  if (!outcome)
    throw Error(std::string(f.what()) + "; no spare " + (f.node.role == Role::kComp ? "CompNode" : "AttnNode") +
                " is left to take its place");
  if (outcome->taken_now && notice_)
    notice_("cascade: " + f.node.name(plan_.beta()) + " at " + f.address + " failed (" + f.reason +
            "); continuing on spare " + outcome->spare);
}

void FailoverBackend::step(const int32_t* tokens, int n, bool all_rows, std::vector<float>& logits) {
  check(cluster_ != nullptr, "the session was lost to an earlier error; start the generation again");
  try {
    cluster_->step(tokens, n, all_rows, logits);
    history_.insert(history_.end(), tokens, tokens + n);
    return;
  } catch (const NodeFailure& f) {
    fail_over(f);
  }
  // Replay: a new session fed everything so far and this step's tokens at once.
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  std::vector<int32_t> all = history_;
  all.insert(all.end(), tokens, tokens + n);
  for (int attempt = 0;; ++attempt) {
    try {
      open();
      const auto r0 = Clock::now();
      cluster_->step(all.data(), (int)all.size(), all_rows, logits);
      stats_.replay_seconds += std::chrono::duration<double>(Clock::now() - r0).count();
      break;
    } catch (const NodeFailure& f) {
      if (attempt + 1 >= kMaxAttempts) throw;
      fail_over(f);
    }
  }
  if (all_rows) {  // the rows of this step's positions only
    const size_t vocab = logits.size() / all.size();
    logits.erase(logits.begin(), logits.begin() + (ptrdiff_t)(history_.size() * vocab));
  }
  history_ = std::move(all);
  ++stats_.failovers;
  stats_.replayed_tokens += (int)history_.size();
  stats_.recovery_seconds += std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace cascade
