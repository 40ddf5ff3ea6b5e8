// LocalProcessCluster — Cascade's nodes as real processes on this machine.
//
// It writes a throwaway PKI (a CA, one leaf per node and one for the client)
// into a private temporary folder, starts `n_comp` CompNode and `n_attn`
// AttnNode daemons on loopback (fork + exec of the `cascade` binary's `node`
// subcommand, ports picked by the kernel and reported through ready files),
// waits until each answers Health, and hands out RemoteClusters: a plan with
// α ≤ n_comp and β² ≤ n_attn uses CompNode processes 0..α-1 and AttnNode
// processes 0..β²-1. Sessions of several clients may share the processes.
//
// The children die with this object (SIGTERM, then SIGKILL, then reaped) and
// with this process (PR_SET_PDEATHSIG), so a crashing test leaves no orphans.
// Create it from the thread that will destroy it: the death signal follows
// the thread that forked.
#pragma once

#include <sys/types.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "net/certs.h"
#include "net/manifest.h"
#include "rpc/remote_cluster.h"

namespace cascade {

struct LocalProcessClusterOptions {
  std::string node_binary;                          // path of the `cascade` binary
  std::vector<std::string> node_command = {"node"};  // argv after the binary, before the flags
  std::string model_path;                            // the CompNodes' model
  int n_comp = 4, n_attn = 16;
  bool map_weights = false;  // CompNodes only memory-map the model (node --mmap): no copy each
  std::vector<std::string> extra_node_args;  // e.g. {"--rpc-deadline-ms", "2000"}
  // Added to the children's environment (unless already set there). Many
  // nodes share this host's cores, and OpenMP/OpenBLAS threads that spin
  // while idle starve the others.
  std::map<std::string, std::string> node_env = {
      {"OMP_NUM_THREADS", "1"}, {"OPENBLAS_NUM_THREADS", "1"}, {"OMP_WAIT_POLICY", "PASSIVE"}};
  // CompNodes' changes to node_env: every core. In a decode step only the
  // new position's owner computes, and one thread ran it at half the
  // host's memory bandwidth; idle threads still sleep.
  std::map<std::string, std::string> comp_env = {
      {"OMP_NUM_THREADS", std::to_string(std::max(1u, std::thread::hardware_concurrency()))}};
  std::chrono::milliseconds startup_timeout{60'000};
};

class LocalProcessCluster {
 public:
  // Starts every node and waits until all are healthy; throws Error (with the
  // failing node's log tail) otherwise, leaving no process behind.
  explicit LocalProcessCluster(LocalProcessClusterOptions opts);
  ~LocalProcessCluster();
  LocalProcessCluster(const LocalProcessCluster&) = delete;
  LocalProcessCluster& operator=(const LocalProcessCluster&) = delete;

  // A client session over the processes for `plan`. `base` supplies
  // deadlines; the TLS identity is the cluster's client certificate.
  std::unique_ptr<RemoteCluster> connect(const Model& model, const Plan& plan, RemoteClusterOptions base = {}) const;
  // The manifest of `spec` over these processes (paths in dir()).
  ClusterManifest manifest(const PlanSpec& spec) const;

  const std::string& dir() const { return dir_; }
  TlsIdentity client_identity() const;
  // Address and pid of process `index` of a role.
  const std::string& address(Role role, int index) const;
  pid_t pid(Role role, int index) const;
  // SIGKILLs and reaps one node (failure tests).
  void kill_node(Role role, int index);

 private:
  struct Child {
    Role role;
    int index;
    pid_t pid = -1;
    std::string address, ready_file, log_file;
  };
  Child& child(Role role, int index);
  const Child& child(Role role, int index) const;
  void spawn(Child& c, const PemPaths& pem);
  void wait_until_healthy();
  void stop_all();

  LocalProcessClusterOptions opts_;
  std::string dir_;
  std::vector<Child> children_;
};

}  // namespace cascade
