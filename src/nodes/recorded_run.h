// A session on the in-process cluster with every message recorded: what the
// privacy audit attacks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nodes/message.h"

namespace cascade {

struct Model;

struct RecordedRun {
  std::vector<int32_t> tokens;    // the prompt, then the generated tokens
  std::vector<Message> messages;  // every message delivered, in delivery order
  std::string secret;             // private protocol: the session's mask secret
};

// Runs `prompt` as one step, then `generate` greedy decode steps (each
// generated token is fed back, so its position is processed by the nodes
// too), on a LocalCluster with a MessageRecorder.
RecordedRun record_run(const Model& m, const Plan& plan, const std::vector<int32_t>& prompt, int generate = 0);

}  // namespace cascade
