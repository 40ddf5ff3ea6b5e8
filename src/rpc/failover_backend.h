// FailoverBackend — a RemoteCluster that survives the loss of nodes while
// spares last.
//
// It keeps every token fed so far (the client holds them all). When a step
// fails with a NodeFailure (a node died, or froze past the health check's
// deadline), it asks the SparePool for a spare in the failed node's place,
// opens a new session on the new placement (a fresh session id and mask
// secret: nothing of the old session is reused), replays the tokens so far
// and the failed step's tokens as one step, and returns that step's logits:
// the caller sees the step it asked for, with output identical to an
// uninterrupted run. Each spare it takes is announced through `notice` as one
// line, e.g.
//   "cascade: comp1 at 127.0.0.1:5001 failed (unreachable: ...); continuing on spare 127.0.0.1:5009"
// With no spare of the role left, the step throws the session's Error, as a
// RemoteCluster does, saying so. Errors that are not a lost node (a refusal,
// a step deadline) are thrown as they are.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "rpc/remote_cluster.h"
#include "rpc/spare_pool.h"

namespace cascade {

class FailoverBackend : public Backend {
 public:
  using Notice = std::function<void(const std::string& line)>;

  // Opens the session on the pool's placement (failing over already if a
  // node is gone). `base` supplies TLS, listen address and deadlines.
  FailoverBackend(const Model& model, const Plan& plan, std::shared_ptr<SparePool> pool, RemoteClusterOptions base,
                  Notice notice = {});
  // From a manifest: its plan, nodes, spares and TLS files (a pool of its own).
  static std::unique_ptr<FailoverBackend> from_manifest(const Model& model, const ClusterManifest& m,
                                                        RemoteClusterOptions base = {}, Notice notice = {});

  void step(const int32_t* tokens, int n, bool all_rows, std::vector<float>& logits) override;
  int position() const override { return (int)history_.size(); }

  struct Stats {
    int failovers = 0;            // sessions reopened after a lost node
    int replayed_tokens = 0;      // tokens fed again, over all failovers
    double recovery_seconds = 0;  // reopening and replaying, over all failovers
    double replay_seconds = 0;    // of which the replay steps
  };
  const Stats& stats() const { return stats_; }
  const RemoteCluster& cluster() const { return *cluster_; }

 private:
  void open();  // cluster_ on the pool's placement
  // Takes a spare for f's node (announcing it) or throws the clear error.
  void fail_over(const NodeFailure& f);

  const Model& model_;
  const Plan plan_;
  std::shared_ptr<SparePool> pool_;
  RemoteClusterOptions base_;
  Notice notice_;
  std::unique_ptr<RemoteCluster> cluster_;
  std::vector<int32_t> history_;
  Stats stats_;
};

}  // namespace cascade
