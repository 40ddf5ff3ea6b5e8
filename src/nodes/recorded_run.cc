#include "nodes/recorded_run.h"

#include "kernels/kernels.h"
#include "nodes/local_cluster.h"
#include "nodes/message_recorder.h"
#include "util/error.h"

namespace cascade {

RecordedRun record_run(const Model& m, const Plan& plan, const std::vector<int32_t>& prompt, int generate) {
  check(!prompt.empty(), "record_run: empty prompt");
  LocalCluster cluster(m, plan);
  MessageRecorder rec;
  cluster.set_recorder(&rec);
  RecordedRun run;
  run.tokens = prompt;
  std::vector<float> logits;
  cluster.step(prompt.data(), (int)prompt.size(), false, logits);
  for (int i = 0; i < generate; ++i) {
    const int32_t next = argmax(logits.data(), m.cfg.vocab_size);
    run.tokens.push_back(next);
    cluster.step(&next, 1, false, logits);
  }
  run.messages = rec.messages();
  run.secret = cluster.client().session_secret();
  return run;
}

}  // namespace cascade
