// delay_proxy — a TCP proxy that adds a fixed one-way delay, for tests on
// machines whose kernel has no netem.
//
//   delay_proxy --delay-ms D [--ready-file F] LISTEN=TARGET [LISTEN=TARGET ...]
//
// LISTEN and TARGET are IPv4 HOST:PORT. For every connection accepted on
// LISTEN it opens one to TARGET and forwards bytes both ways; each chunk read
// from one side is written to the other D ms after it was read, in order. So
// the link behaves like a wire with one-way delay D in each direction (a
// request/response through it takes at least 2·D), and throughput is not
// limited by the delay (chunks in flight overlap, as on a real long link).
//
// Threads, no busy loops: per direction one reader (blocking recv) and one
// writer (waits on a condition variable until the head chunk is due). A
// direction buffers at most kMaxBuffered bytes; the reader blocks beyond that.
// EOF is forwarded as a half-close (shutdown(SHUT_WR)) after the same delay; a
// read or write error tears down the whole connection. --ready-file receives
// "ready\n" (atomically) once every LISTEN socket is bound. SIGTERM or SIGINT
// ends the process (exit status 0).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kChunk = 64 * 1024;
constexpr size_t kMaxBuffered = 16u << 20;

std::chrono::microseconds g_delay{0};

[[noreturn]] void die(const std::string& what) {
  fprintf(stderr, "delay_proxy: %s\n", what.c_str());
  exit(2);
}

sockaddr_in parse_addr(const std::string& s) {
  const size_t colon = s.rfind(':');
  if (colon == std::string::npos) die("\"" + s + "\" is not HOST:PORT");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  const std::string host = s.substr(0, colon);
  if (inet_pton(AF_INET, host == "localhost" ? "127.0.0.1" : host.c_str(), &a.sin_addr) != 1)
    die("\"" + host + "\" is not an IPv4 address");
  char* end = nullptr;
  const long port = strtol(s.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || port < 0 || port > 65535) die("bad port in \"" + s + "\"");
  a.sin_port = htons(static_cast<uint16_t>(port));
  return a;
}

void set_nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// One accepted connection: two sockets, two directions.
struct Conn {
  int a = -1, b = -1;  // accepted side, target side
  ~Conn() {
    if (a >= 0) close(a);
    if (b >= 0) close(b);
  }
  void abort() {  // wakes every blocked recv/send on both sockets
    shutdown(a, SHUT_RDWR);
    shutdown(b, SHUT_RDWR);
  }
};

struct Chunk {
  Clock::time_point due;
  std::string data;  // empty = EOF
};

// One direction: reader (from) -> queue -> writer (to).
struct Pipe {
  std::shared_ptr<Conn> conn;
  int from, to;
  std::mutex mu;
  std::condition_variable cv_write, cv_read;
  std::deque<Chunk> q;
  size_t buffered = 0;
  bool dead = false;  // writer failed or finished; reader should stop
};

void reader(std::shared_ptr<Pipe> p) {
  std::string buf(kChunk, '\0');
  for (;;) {
    ssize_t n = recv(p->from, buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    const Clock::time_point due = Clock::now() + g_delay;
    std::unique_lock lk(p->mu);
    if (n < 0) {  // error: tear everything down
      p->dead = true;
      p->conn->abort();
      p->cv_write.notify_all();
      return;
    }
    // Backpressure, bounded: the writer frees space or dies within its wait.
    p->cv_read.wait(lk, [&] { return p->dead || p->buffered < kMaxBuffered; });
    if (p->dead) return;
    p->q.push_back({due, n == 0 ? std::string() : std::string(buf.data(), static_cast<size_t>(n))});
    p->buffered += static_cast<size_t>(n);
    p->cv_write.notify_all();
    if (n == 0) return;  // EOF queued
  }
}

bool send_all(int fd, const std::string& d) {
  size_t off = 0;
  while (off < d.size()) {
    ssize_t n = send(fd, d.data() + off, d.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

void writer(std::shared_ptr<Pipe> p) {
  std::unique_lock lk(p->mu);
  for (;;) {
    p->cv_write.wait(lk, [&] { return p->dead || !p->q.empty(); });
    if (p->q.empty()) break;  // dead and drained
    const Clock::time_point due = p->q.front().due;
    if (Clock::now() < due) {
      p->cv_write.wait_until(lk, due);
      continue;  // re-check (spurious wakeups, death)
    }
    Chunk c = std::move(p->q.front());
    p->q.pop_front();
    p->buffered -= c.data.size();
    p->cv_read.notify_all();
    lk.unlock();
    if (c.data.empty()) {  // EOF: half-close, this direction is done
      shutdown(p->to, SHUT_WR);
      lk.lock();
      break;
    }
    const bool ok = send_all(p->to, c.data);
    lk.lock();
    if (!ok) {
      p->dead = true;
      p->conn->abort();
      p->cv_read.notify_all();
      break;
    }
  }
  p->dead = true;
  p->cv_read.notify_all();
}

void start_direction(const std::shared_ptr<Conn>& c, int from, int to) {
  auto p = std::make_shared<Pipe>();
  p->conn = c;
  p->from = from;
  p->to = to;
  std::thread(reader, p).detach();
  std::thread(writer, p).detach();
}

void serve(int listen_fd, sockaddr_in target) {
  for (;;) {
    int fd = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE) {
        if (errno == EMFILE || errno == ENFILE) std::this_thread::sleep_for(std::chrono::milliseconds(50));
        continue;
      }
      die(std::string("accept: ") + strerror(errno));
    }
    int t = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (t < 0 || connect(t, reinterpret_cast<sockaddr*>(&target), sizeof target) != 0) {
      fprintf(stderr, "delay_proxy: cannot connect to the target: %s\n", strerror(errno));
      if (t >= 0) close(t);
      close(fd);  // the caller sees a reset, as with a dead server
      continue;
    }
    set_nodelay(fd);
    set_nodelay(t);
    auto c = std::make_shared<Conn>();
    c->a = fd;
    c->b = t;
    start_direction(c, fd, t);
    start_direction(c, t, fd);
  }
}

void write_ready(const std::string& path) {
  const std::string tmp = path + ".tmp";
  FILE* f = fopen(tmp.c_str(), "w");
  if (!f) die("cannot write " + tmp);
  fputs("ready\n", f);
  fclose(f);
  if (rename(tmp.c_str(), path.c_str()) != 0) die("cannot rename " + tmp);
}

void usage() {
  fprintf(stderr,
          "usage: delay_proxy --delay-ms D [--ready-file F] LISTEN=TARGET [LISTEN=TARGET ...]\n"
          "  forwards TCP from each LISTEN (IPv4 HOST:PORT) to its TARGET, delaying every chunk by\n"
          "  D ms (a float) in each direction, in order. Exits on SIGTERM/SIGINT.\n");
}

}  // namespace

int main(int argc, char** argv) {
  double delay_ms = -1;
  std::string ready_file;
  std::vector<std::pair<sockaddr_in, sockaddr_in>> routes;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--delay-ms" && i + 1 < argc) {
      char* end = nullptr;
      delay_ms = strtod(argv[++i], &end);
      if (*end != '\0' || delay_ms < 0 || delay_ms > 60'000) die("--delay-ms must be a number in [0, 60000]");
    } else if (a == "--ready-file" && i + 1 < argc) {
      ready_file = argv[++i];
    } else if (a == "-h" || a == "--help") {
      usage();
      return 0;
    } else if (a.find('=') != std::string::npos && a[0] != '-') {
      const size_t eq = a.find('=');
      routes.push_back({parse_addr(a.substr(0, eq)), parse_addr(a.substr(eq + 1))});
    } else {
      usage();
      die("unknown argument \"" + a + "\"");
    }
  }
  if (delay_ms < 0 || routes.empty()) {
    usage();
    return 2;
  }
  g_delay = std::chrono::microseconds(static_cast<int64_t>(delay_ms * 1000.0));

  // Block the stop signals in every thread; main waits for them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::vector<int> listeners;
  for (auto& [listen_addr, target] : routes) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die(std::string("socket: ") + strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, reinterpret_cast<sockaddr*>(&listen_addr), sizeof listen_addr) != 0) {
      char ip[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, &listen_addr.sin_addr, ip, sizeof ip);
      die(std::string("cannot bind ") + ip + ":" + std::to_string(ntohs(listen_addr.sin_port)) + ": " +
          strerror(errno));
    }
    if (listen(fd, 128) != 0) die(std::string("listen: ") + strerror(errno));
    listeners.push_back(fd);
    std::thread(serve, fd, target).detach();
  }
  if (!ready_file.empty()) write_ready(ready_file);

  int sig = 0;
  while (sigwait(&stop, &sig) != 0) {
  }
  // Detached threads block in recv/accept; end the process without unwinding them.
  fflush(stderr);
  _exit(0);
}
