// link_bench — what one Cascade link costs: gRPC + mutual TLS on loopback,
// through the same LinkServer / PeerLinks / encode_link code the nodes use.
//
// Two processes, A and B, each with its link loop thread:
//   stream     A sends N messages of S bytes to B, back to back (prefill's
//              pattern): MB/s, and host CPU per byte and per message, both
//              ends and the kernel together (/proc/stat).
//   ping-pong  A sends one message, B answers with one, N times (decode's
//              critical path): wall and host CPU per round trip.
// The per-byte and per-message CPU are the floor under a cluster whose
// processes share one host: `cascade bench remote` prints the cluster's
// CPU, and docs/PERFORMANCE.md puts the two side by side.
//
// Usage: link_bench [--json FILE] [--stream-only | --ping-only]
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "net/certs.h"
#include "rpc/link_server.h"
#include "rpc/peer_link.h"
#include "util/atomic_file.h"
#include "util/host_counters.h"
#include "util/process_tuning.h"

namespace cascade {
namespace {

using Clock = std::chrono::steady_clock;

// Counts what arrives; wait_for(n) returns once n messages have.
struct Inbox {
  std::mutex mu;
  std::condition_variable cv;
  long received = 0;
  void add() {
    std::lock_guard<std::mutex> lock(mu);
    ++received;
    cv.notify_all();
  }
  long count() {
    std::lock_guard<std::mutex> lock(mu);
    return received;
  }
  void wait_for(long n) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return received >= n; });
  }
};

// What a message asks of B (Message::flags).
constexpr int32_t kAnswer = 1;  // answer with a message of the same size
constexpr int32_t kAck = 2;     // answer with a small message (the end of a stream test)

Message message(NodeId from, NodeId to, size_t bytes, int32_t flags) {
  Message m;
  m.type = MsgType::kAttnRows;
  m.from = from;
  m.to = to;
  m.flags = flags;
  m.rows.assign(bytes / 4, 0.25f);
  return m;
}

// One party: a LinkServer whose accept() runs `on_message` on the link loop.
struct Party {
  Party(const TlsIdentity& tls, std::function<void(Message&&)> on_message)
      : server(tls, {}, "127.0.0.1:0",
               {.accept = [on_message](const std::string&, LinkMessage&& in) {
                  on_message(std::move(in.msg));
                  return grpc::Status::OK;
                },
                .open = [](const grpc::ServerContextBase&, const wire::SessionSetup&) { return grpc::Status::OK; },
                .close = [](const wire::SessionRef&) { return grpc::Status::OK; },
                .health = [](wire::HealthReply*) {}},
               "link_bench"),
        channels(channel_credentials(tls), {}) {}
  LinkServer server;
  PeerChannels channels;
};

const NodeId kA{Role::kComp, 0}, kB{Role::kAttn, 0};

void fail(const SendFailure& f) {
  std::fprintf(stderr, "link_bench: link failed: %s\n", f.status.error_message().c_str());
  std::exit(1);
}

// Writes `port` to `out`, reads the peer's from `in`.
int swap_ports(int port, int out, int in) {
  int peer = 0;
  if (write(out, &port, sizeof port) != sizeof port || read(in, &peer, sizeof peer) != sizeof peer) {
    std::fprintf(stderr, "link_bench: the other process is gone\n");
    std::exit(1);
  }
  return peer;
}

std::string loopback(int port) { return "127.0.0.1:" + std::to_string(port); }

// Process B: answers what A asks until A closes its pipe.
int run_b(const TlsIdentity& tls, int to_a, int from_a) {
  std::unique_ptr<PeerLinks> links;
  Party b(tls, [&](Message&& m) {
    if (m.flags & kAnswer) links->send(message(kB, kA, m.rows.size() * 4, 0));
    if (m.flags & kAck) links->send(message(kB, kA, 64, 0));
  });
  const int a_port = swap_ports(b.server.port(), to_a, from_a);
  const AddressBook book{{kA, loopback(a_port)}, {kB, loopback(b.server.port())}};
  links = std::make_unique<PeerLinks>(b.channels, b.server.loop(), book, fail);
  char c;
  while (read(from_a, &c, 1) > 0) {
  }
  links->close();
  return 0;
}

struct Result {
  double wall_s, cpu_s;
};

template <class F>
Result measure(F run) {
  const auto t = Clock::now();
  const double cpu = host_cpu_seconds();
  run();
  return {std::chrono::duration<double>(Clock::now() - t).count(), host_cpu_seconds() - cpu};
}

int run(int argc, char** argv) {
  std::string json_out;
  bool stream = true, ping = true;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--json" && i + 1 < argc) json_out = argv[++i];
    if (arg == "--stream-only") ping = false;
    if (arg == "--ping-only") stream = false;
  }
  const CertAndKey ca = make_ca("link_bench CA");
  const CertAndKey leaf = make_leaf(ca, "bench");
  const TlsIdentity tls{ca.cert_pem, leaf.cert_pem, leaf.key_pem};
  // Two processes, as two nodes are; gRPC starts only after the fork.
  int a_to_b[2], b_to_a[2];
  if (pipe(a_to_b) != 0 || pipe(b_to_a) != 0) return 1;
  const pid_t child = fork();
  if (child == 0) {
    close(a_to_b[1]);
    close(b_to_a[0]);
    _exit(run_b(tls, b_to_a[1], a_to_b[0]));
  }
  close(a_to_b[0]);
  close(b_to_a[1]);

  // Ping-pong runs on the link loop, as nodes do: A sends the next ping
  // when B's answer arrives, until `pings_left` is 0.
  Inbox inbox;
  std::unique_ptr<PeerLinks> links;
  std::atomic<long> pings_left{0};
  std::atomic<size_t> ping_bytes{0};
  Party a(tls, [&](Message&&) {
    inbox.add();
    if (pings_left.fetch_sub(1) > 1) links->send(message(kA, kB, ping_bytes, kAnswer));
  });
  const int b_port = swap_ports(a.server.port(), a_to_b[1], b_to_a[0]);
  const AddressBook book{{kA, loopback(a.server.port())}, {kB, loopback(b_port)}};
  links = std::make_unique<PeerLinks>(a.channels, a.server.loop(), book, fail);
  // Open both streams (and warm TLS, allocators) before timing.
  links->send(message(kA, kB, 64, kAck));
  inbox.wait_for(1);

  nlohmann::json results = nlohmann::json::array();
  std::printf("%-10s %10s %8s %10s %12s %14s %14s\n", "pattern", "msg bytes", "count", "MB/s", "wall us/msg",
              "CPU us/msg", "CPU ns/byte");
  for (size_t bytes : {size_t(256), size_t(4096), size_t(25 << 10), size_t(256 << 10)}) {
    if (!stream) break;
    const long n = (long)std::max<size_t>(200, (64u << 20) / bytes);
    const long base = inbox.count();
    const Result r = measure([&] {
      for (long i = 0; i < n; ++i) links->send(message(kA, kB, bytes, i == n - 1 ? kAck : 0));
      inbox.wait_for(base + 1);
    });
    const double mbs = bytes * n / r.wall_s / 1e6;
    std::printf("%-10s %10zu %8ld %10.0f %12.1f %14.1f %14.2f\n", "stream", bytes, n, mbs, r.wall_s / n * 1e6,
                r.cpu_s / n * 1e6, r.cpu_s / (double)(bytes * n) * 1e9);
    results.push_back({{"pattern", "stream"}, {"bytes", bytes}, {"count", n}, {"wall_s", r.wall_s}, {"cpu_s", r.cpu_s}});
  }
  for (size_t bytes : {size_t(256), size_t(4096)}) {
    if (!ping) break;
    const long n = 2000;
    const long base = inbox.count();
    const Result r = measure([&] {
      ping_bytes = bytes;
      pings_left = n;
      links->send(message(kA, kB, bytes, kAnswer));
      inbox.wait_for(base + n);
    });
    std::printf("%-10s %10zu %8ld %10s %12.1f %14.1f %14s\n", "ping-pong", bytes, n, "-", r.wall_s / n * 1e6,
                r.cpu_s / n * 1e6, "-");
    results.push_back(
        {{"pattern", "ping-pong"}, {"bytes", bytes}, {"count", n}, {"wall_s", r.wall_s}, {"cpu_s", r.cpu_s}});
  }
  std::printf("(wall and CPU per message; ping-pong: per round trip of two messages)\n");
  links->close();
  close(a_to_b[1]);
  int status = 0;
  waitpid(child, &status, 0);
  if (!json_out.empty()) write_file_atomic(json_out, results.dump(2) + "\n");
  return 0;
}

}  // namespace
}  // namespace cascade

int main(int argc, char** argv) {
  cascade::tune_process();
  return cascade::run(argc, argv);
}
