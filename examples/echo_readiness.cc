// The poll source, end to end: a UDP echo server and its client on
// 127.0.0.1, both watched by one keel::Uring, a worker thread that wakes the
// loop, and SIGINT/SIGTERM routed to Shutdown. docs/drivers.md quotes it;
// the numbered comments match its sections.
//
//   bazel run //examples:echo_readiness                      # io_uring, or epoll where refused
//   bazel run //examples:echo_readiness -- --backend=epoll   # force the fallback
//   KEEL_BACKEND=epoll bazel run //examples:echo_readiness   # the same, from the environment
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "examples/flags.h"
#include "rt/signal.h"
#include "rt/uring.h"
#include "rt/world.h"

using namespace std::chrono_literals;

namespace {

// KEEL_BACKEND, when set, replaces the default (a test forces epoll this way).
std::string default_backend() {
  const char* env = std::getenv("KEEL_BACKEND");
  return env != nullptr ? env : "auto";
}

}  // namespace

ABSL_FLAG(std::string, backend, default_backend(), "the poll source: auto, io_uring or epoll");

// What the handlers share: a resource, like any other.
struct EchoStats {
  int echoed = 0;    // datagrams the server sent back
  int received = 0;  // echoes the client got
  int expected = 0;
  bool worker_said_hello = false;
};

// 2. A readiness handler: resources first, the event last. Readiness is
// edge-like, so it reads until EAGAIN.
void on_server_readable(keel::ResMut<EchoStats> stats, const keel::Readiness& r) {
  char datagram[512];
  sockaddr_in from{};
  socklen_t length = sizeof from;
  for (ssize_t n; (n = recvfrom(r.fd, datagram, sizeof datagram, 0, reinterpret_cast<sockaddr*>(&from), &length)) > 0;
       length = sizeof from) {
    sendto(r.fd, datagram, static_cast<std::size_t>(n), 0, reinterpret_cast<const sockaddr*>(&from), length);
    ++stats->echoed;
  }
}

// 3. A handler that unwatches itself when it is done, and ends the loop
// once the worker thread has been heard from too.
void on_client_readable(keel::ResMut<EchoStats> stats, keel::ResMut<keel::Uring> uring,
                        keel::Res<keel::Shutdown> shutdown, const keel::Readiness& r) {
  char datagram[512];
  while (recv(r.fd, datagram, sizeof datagram, 0) > 0) ++stats->received;
  if (stats->received == stats->expected) {
    uring->unwatch(r.watch);
    if (stats->worker_said_hello) shutdown->request();
  }
}

// 4. The on_wake handler: runs on the loop thread after a wake().
void on_worker_wake(keel::ResMut<EchoStats> stats, keel::Res<keel::Shutdown> shutdown, const keel::Woken&) {
  stats->worker_said_hello = true;
  if (stats->received == stats->expected) shutdown->request();
}

namespace {

int udp_socket(sockaddr_in& bound) {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof bound;
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length);
  return fd;
}

}  // namespace

int main(int argc, char** argv) {
  examples::parse_flags(argc, argv,
                        "a UDP echo server and its client on 127.0.0.1, on Keel's poll source (docs/drivers.md)");

  // 1. Install the poll source, then route signals through it (before any
  // thread starts, so that threads inherit the blocked mask).
  keel::WorldBuilder wb;
  wb.insert(EchoStats{.expected = 5});
  auto io = wb.install_driver(keel::UringInstaller{.entries = 256, .backend = examples::backend_flag(FLAGS_backend)});
  auto signals = wb.install_driver(keel::SignalInstaller{});
  keel::World world = std::move(wb).build();
  auto& uring = world.resource<keel::Uring>();
  std::printf("1. poll source: %s\n", uring.describe().c_str());

  sockaddr_in server_address{};
  sockaddr_in client_address{};
  const int server = udp_socket(server_address);
  const int client = udp_socket(client_address);
  keel::Watch server_watch = uring.watch(server, keel::Readable, keel::handler(world.registry(), on_server_readable));
  uring.watch(client, keel::Readable, keel::handler(world.registry(), on_client_readable));

  // 4. A waker for another thread, and what the loop does when woken.
  uring.on_wake(keel::handler(world.registry(), on_worker_wake));
  keel::UringWaker waker = uring.waker();
  std::thread worker([waker] {
    std::this_thread::sleep_for(20ms);
    waker.wake();
  });

  for (int i = 0; i < world.resource<EchoStats>().expected; ++i) {
    const std::string text = "ping " + std::to_string(i);
    sendto(client, text.data(), text.size(), 0, reinterpret_cast<const sockaddr*>(&server_address),
           sizeof server_address);
  }

  // 5. The loop: until a handler (or SIGINT/SIGTERM) requests shutdown.
  world.run([&](keel::World& w) { io.poll(w, 100ms); });
  worker.join();

  const EchoStats& stats = world.resource<EchoStats>();
  std::printf("2. the server echoed %d datagrams\n", stats.echoed);
  std::printf("3. the client got %d echoes and unwatched itself; still watched: %zu (the server, the signalfd)\n",
              stats.received, uring.size());
  std::printf("4. woken by the worker thread: %s\n", stats.worker_said_hello ? "yes" : "no");
  std::printf("5. signals received: %llu; events dispatched: %llu\n",
              static_cast<unsigned long long>(signals.received()),
              static_cast<unsigned long long>(world.sequence()));
  uring.unwatch(server_watch);
  ::close(server);
  ::close(client);
  return stats.received == stats.expected ? 0 : 1;
}
