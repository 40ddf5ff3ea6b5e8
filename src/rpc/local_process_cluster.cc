#include "rpc/local_process_cluster.h"
#include "util/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "rpc/wire.h"
#include "util/error.h"

namespace cascade {
namespace {

const char* role_flag(Role r) { return r == Role::kComp ? "comp" : "attn"; }

std::string tail_of(const std::string& path, size_t n = 1500) {
  std::ifstream f(path, std::ios::binary);
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return s.size() > n ? "..." + s.substr(s.size() - n) : s;
}

}  // namespace

LocalProcessCluster::LocalProcessCluster(LocalProcessClusterOptions opts) : opts_(std::move(opts)) {
  check(opts_.n_comp >= 1 && opts_.n_attn >= 1, "local cluster: needs at least one node of each role");
  check(access(opts_.node_binary.c_str(), X_OK) == 0, "local cluster: cannot execute " + opts_.node_binary);
  char tmpl[] = "/tmp/cascade-cluster-XXXXXX";
  check(mkdtemp(tmpl) != nullptr, std::string("local cluster: cannot create a temporary folder: ") + std::strerror(errno));
  dir_ = tmpl;
  try {
    // The CA key never touches the disk: nobody can mint more certificates.
    const CertAndKey ca = make_ca("Cascade throwaway CA", 2);
    write_file_atomic(dir_ + "/ca.pem", ca.cert_pem);
    write_cert_and_key(make_leaf(ca, "client", {}, 2), dir_, "client");
    for (int r = 0; r < opts_.n_comp; ++r) children_.push_back({Role::kComp, r});
    for (int i = 0; i < opts_.n_attn; ++i) children_.push_back({Role::kAttn, i});
    for (Child& c : children_) {
      const std::string name = std::string(role_flag(c.role)) + std::to_string(c.index);
      c.ready_file = dir_ + "/" + name + ".addr";
      c.log_file = dir_ + "/" + name + ".log";
      spawn(c, write_cert_and_key(make_leaf(ca, name, {}, 2), dir_, name));
    }
    wait_until_healthy();
  } catch (...) {
    stop_all();
    std::filesystem::remove_all(dir_);
    throw;
  }
}

LocalProcessCluster::~LocalProcessCluster() {
  stop_all();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void LocalProcessCluster::spawn(Child& c, const PemPaths& pem) {
  std::vector<std::string> args = {opts_.node_binary};
  args.insert(args.end(), opts_.node_command.begin(), opts_.node_command.end());
  for (const char* s : {"--role", role_flag(c.role), "--listen", "127.0.0.1:0"}) args.push_back(s);
  for (const std::string& s : {std::string("--cert"), pem.cert, std::string("--key"), pem.key, std::string("--ca"),
                               dir_ + "/ca.pem", std::string("--ready-file"), c.ready_file})
    args.push_back(s);
  if (c.role == Role::kComp) args.insert(args.end(), {"-m", opts_.model_path});
  if (c.role == Role::kComp && opts_.map_weights) args.push_back("--mmap");
  args.insert(args.end(), opts_.extra_node_args.begin(), opts_.extra_node_args.end());
  // Everything the child needs is prepared before fork: between fork and
  // exec only async-signal-safe calls are allowed in a threaded process.
  std::vector<char*> argv;
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) env_strings.push_back(*e);
  std::map<std::string, std::string> env = opts_.node_env;
  if (c.role == Role::kComp)
    for (const auto& [k, v] : opts_.comp_env) env[k] = v;
  for (const auto& [k, v] : env)
    if (!getenv(k.c_str())) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  const int log = ::open(c.log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  check(log >= 0, "local cluster: cannot create " + c.log_file);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // the parent died before prctl
    dup2(log, 1);
    dup2(log, 2);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  ::close(log);
  check(pid > 0, std::string("local cluster: fork failed: ") + std::strerror(errno));
  c.pid = pid;
}

void LocalProcessCluster::wait_until_healthy() {
  const auto deadline = std::chrono::steady_clock::now() + opts_.startup_timeout;
  auto died = [&](Child& c) {
    int status = 0;
    if (c.pid > 0 && waitpid(c.pid, &status, WNOHANG) == c.pid) {
      c.pid = -1;
      throw Error("local cluster: " + std::string(role_flag(c.role)) + " node " + std::to_string(c.index) +
                  " exited during startup; its log:\n" + tail_of(c.log_file));
    }
  };
  // 1. Every child writes its bound address.
  for (Child& c : children_) {
    while (true) {
      std::ifstream f(c.ready_file);
      if (f && std::getline(f, c.address) && !c.address.empty()) break;
      died(c);
      check(std::chrono::steady_clock::now() < deadline,
            "local cluster: node " + c.log_file + " did not start in time; its log:\n" + tail_of(c.log_file));
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  // 2. Every child answers Health over mutual TLS.
  PeerChannels channels(channel_credentials(client_identity()), {});
  for (Child& c : children_) {
    while (true) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
      wire::HealthRequest req;
      wire::HealthReply rep;
      const grpc::Status s = channels.stub(c.address).Health(&ctx, req, &rep);
      if (s.ok()) break;
      died(c);
      check(std::chrono::steady_clock::now() < deadline,
            "local cluster: node at " + c.address + " is not healthy: " + s.error_message());
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
}

void LocalProcessCluster::stop_all() {
  for (Child& c : children_)
    if (c.pid > 0) kill(c.pid, SIGTERM);
  const auto grace = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  for (Child& c : children_) {
    while (c.pid > 0) {
      const pid_t r = waitpid(c.pid, nullptr, WNOHANG);
      if (r == c.pid || (r < 0 && errno == ECHILD)) {
        c.pid = -1;
        break;
      }
      if (std::chrono::steady_clock::now() > grace) {
        kill(c.pid, SIGKILL);
        waitpid(c.pid, nullptr, 0);
        c.pid = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
}

LocalProcessCluster::Child& LocalProcessCluster::child(Role role, int index) {
  for (Child& c : children_)
    if (c.role == role && c.index == index) return c;
  throw Error("local cluster: no " + std::string(role_flag(role)) + " process " + std::to_string(index));
}

const LocalProcessCluster::Child& LocalProcessCluster::child(Role role, int index) const {
  return const_cast<LocalProcessCluster*>(this)->child(role, index);
}

const std::string& LocalProcessCluster::address(Role role, int index) const { return child(role, index).address; }
pid_t LocalProcessCluster::pid(Role role, int index) const { return child(role, index).pid; }

void LocalProcessCluster::kill_node(Role role, int index) {
  Child& c = child(role, index);
  if (c.pid <= 0) return;
  kill(c.pid, SIGKILL);
  waitpid(c.pid, nullptr, 0);
  c.pid = -1;
}

TlsIdentity LocalProcessCluster::client_identity() const {
  return load_tls_identity(dir_ + "/ca.pem", dir_ + "/client.pem", dir_ + "/client.key");
}

ClusterManifest LocalProcessCluster::manifest(const PlanSpec& spec) const {
  check(spec.alpha <= opts_.n_comp && spec.beta * spec.beta <= opts_.n_attn,
        "local cluster: the plan needs " + std::to_string(spec.alpha) + " CompNodes and " +
            std::to_string(spec.beta * spec.beta) + " AttnNodes, but " + std::to_string(opts_.n_comp) + " and " +
            std::to_string(opts_.n_attn) + " run");
  ClusterManifest m;
  m.ca = dir_ + "/ca.pem";
  m.client_cert = dir_ + "/client.pem";
  m.client_key = dir_ + "/client.key";
  m.plan = spec;
  for (int r = 0; r < spec.alpha; ++r) m.nodes[{Role::kComp, r}] = address(Role::kComp, r);
  for (int i = 0; i < spec.beta * spec.beta; ++i) m.nodes[{Role::kAttn, i}] = address(Role::kAttn, i);
  return m;
}

std::unique_ptr<RemoteCluster> LocalProcessCluster::connect(const Model& model, const Plan& plan,
                                                            RemoteClusterOptions base) const {
  const ClusterManifest m = manifest(plan.spec());
  base.tls = client_identity();
  return std::make_unique<RemoteCluster>(model, plan, m.nodes, std::move(base));
}

}  // namespace cascade
