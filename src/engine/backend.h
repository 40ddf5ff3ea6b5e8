// Backend — where a step of positions is computed. The generation loop and
// the tests talk to this, so one loop serves every placement:
//   PlainBackend   the plaintext Engine (every role local)
//   LocalCluster   Cascade's roles in this process, on an in-memory bus
//   RemoteCluster  Cascade's nodes over gRPC (rpc/)
#pragma once

#include <cstdint>
#include <vector>

#include "engine/engine.h"

namespace cascade {

class Backend {
 public:
  virtual ~Backend() = default;
  // Feeds tokens at the next n positions. logits: [vocab] for the last row,
  // or [n][vocab] when all_rows.
  virtual void step(const int32_t* tokens, int n, bool all_rows, std::vector<float>& logits) = 0;
  virtual int position() const = 0;
};

class PlainBackend : public Backend {
 public:
  explicit PlainBackend(const Model& m) : engine_(m) {}
  void step(const int32_t* tokens, int n, bool all_rows, std::vector<float>& logits) override {
    const int V = engine_.model().cfg.vocab_size;
    logits.resize((size_t)(all_rows ? n : 1) * V);
    if (all_rows)
      engine_.forward(tokens, n, nullptr, logits.data());
    else
      engine_.forward(tokens, n, logits.data());
  }
  int position() const override { return engine_.position(); }
  Engine& engine() { return engine_; }

 private:
  Engine engine_;
};

}  // namespace cascade
