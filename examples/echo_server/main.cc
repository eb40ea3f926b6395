// A TCP echo server on Keel's async IO: one World, one Runtime on the
// World's ring, an accept loop task and a task per connection that echoes
// through one reused buffer. Ctrl-C (SIGINT) or SIGTERM stops it through
// keel::SignalInstaller and prints a summary. With --selftest it also runs
// a load client on a second thread (a World and a Runtime of its own),
// checks every echoed byte and prints round-trip latency and throughput.
// docs/echo-server.md quotes this file.
//
//   bazel run //examples:echo_server -- --port=7000
//   bazel run -c opt //examples:echo_server -- --selftest --backend=epoll
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "absl/flags/flag.h"
#include "async/io.h"
#include "async/runtime.h"
#include "async/socket_addr.h"
#include "examples/echo_server/load_client.h"
#include "examples/echo_server/server.h"
#include "examples/fd_limit.h"
#include "examples/flags.h"
#include "rt/signal.h"
#include "rt/uring.h"
#include "rt/world.h"

ABSL_FLAG(std::string, bind, "127.0.0.1", "the address to listen on, numeric IPv4 or IPv6 (loopback by default)");
ABSL_FLAG(int, port, 0, "the TCP port to listen on, 0 to 65535; 0 picks a free one (printed)");
ABSL_FLAG(std::string, backend, "auto", "the poll source: auto, io_uring or epoll");
ABSL_FLAG(int, buffer_bytes, 16 * 1024, "each connection's buffer, 1 to 16777216 bytes");
ABSL_FLAG(int, max_connections, 10'000, "connections open at once, 1 to 1000000; more are closed when accepted");
ABSL_FLAG(bool, selftest, false, "run a load client against the server, check every byte, print the figures");
ABSL_FLAG(int, clients, 64, "--selftest: concurrent clients, 1 to 10000");
ABSL_FLAG(int, messages, 1000, "--selftest: round trips per client, 1 to 10000000");
ABSL_FLAG(int, size, 64, "--selftest: bytes per message, 1 to 1048576");

namespace {

using namespace std::chrono_literals;

const char* signal_name(int signal) {
  return signal == SIGINT ? "SIGINT" : signal == SIGTERM ? "SIGTERM" : "a signal";
}

// The selftest's verdict, printed; true when every byte matched, every
// client finished and the server received exactly what the clients sent.
bool report_selftest(const echo::LoadReport& report, const echo::LoadConfig& load, const echo::ServerStats& server) {
  std::printf("echo_server: selftest: %zu clients x %zu round trips of %zu bytes, client thread on %s\n",
              load.clients, load.messages, load.message_bytes, report.backend.c_str());
  std::printf("echo_server: selftest: round trip p50 %.1f us, p99 %.1f us; %.0f messages/s, %.1f MB/s each way\n",
              report.latency_us(0.50), report.latency_us(0.99), report.messages_per_second(),
              report.megabytes_per_second(load.message_bytes));
  const unsigned long long expected_bytes = load.clients * load.messages * load.message_bytes;
  if (report.passed() && server.bytes == expected_bytes) {
    std::printf("echo_server: selftest: every byte matched (%llu round trips, %llu bytes checked); "
                "every client finished\n",
                static_cast<unsigned long long>(report.round_trips),
                static_cast<unsigned long long>(report.bytes_checked));
    return true;
  }
  std::printf("echo_server: selftest FAILED: %zu of %zu clients finished; %llu of %llu bytes checked differed; "
              "the server received %llu of %llu bytes\n",
              report.finished, report.clients, static_cast<unsigned long long>(report.bytes_wrong),
              static_cast<unsigned long long>(report.bytes_checked), static_cast<unsigned long long>(server.bytes),
              expected_bytes);
  for (const std::string& failure : report.failures) std::printf("echo_server: selftest: %s\n", failure.c_str());
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  examples::parse_flags(argc, argv, "A TCP echo server on Keel's async IO; --selftest measures it (docs/echo-server.md)");
  const keel::Backend backend = examples::backend_flag(FLAGS_backend);
  const int port = examples::checked_flag(
      FLAGS_port, [](int p) { return p >= 0 && p <= 65535; }, "must be from 0 to 65535");
  const keel::async::SocketAddr address = examples::listen_address_flag(FLAGS_bind, port);
  echo::ServerConfig config;
  config.buffer_bytes = static_cast<std::size_t>(examples::checked_flag(
      FLAGS_buffer_bytes, [](int n) { return n >= 1 && n <= 16 << 20; }, "must be from 1 to 16777216"));
  config.max_connections = static_cast<std::size_t>(examples::checked_flag(
      FLAGS_max_connections, [](int n) { return n >= 1 && n <= 1'000'000; }, "must be from 1 to 1000000"));
  const bool selftest = absl::GetFlag(FLAGS_selftest);
  echo::LoadConfig load;
  load.backend = backend;
  load.clients = static_cast<std::size_t>(examples::checked_flag(
      FLAGS_clients, [](int n) { return n >= 1 && n <= 10'000; }, "must be from 1 to 10000"));
  load.messages = static_cast<std::size_t>(examples::checked_flag(
      FLAGS_messages, [](int n) { return n >= 1 && n <= 10'000'000; }, "must be from 1 to 10000000"));
  load.message_bytes = static_cast<std::size_t>(examples::checked_flag(
      FLAGS_size, [](int n) { return n >= 1 && n <= 1 << 20; }, "must be from 1 to 1048576"));
  // Every connection is an fd (two in the selftest: both ends are here).
  examples::raise_fd_limit(config.max_connections + (selftest ? load.clients : 0) + 64);

  // 1. The World: the poll source, and SIGINT/SIGTERM routed into Shutdown
  //    (before any thread starts, so the load client's thread inherits the
  //    blocked signals and they reach the signalfd).
  keel::WorldBuilder wb;
  wb.install_driver(keel::UringInstaller{.entries = 1024, .backend = backend});
  auto signals = wb.install_driver(keel::SignalInstaller{});
  keel::World world = std::move(wb).build();

  // 2. The Runtime on the World's ring, with a task-frame slot per
  //    connection, and the listener. The stats outlive the Runtime: the
  //    connection tasks count into them until they are destroyed.
  echo::ServerStats stats;
  keel::async::RuntimeOptions options;
  options.arena = echo::server_arena(config);
  options.max_io_operations = std::max<std::size_t>(options.max_io_operations, 2 * config.max_connections + 64);
  std::optional<keel::async::Runtime> rt(std::in_place, world, options);
  auto listener = keel::async::TcpListener::bind(address);
  if (!listener) {
    std::fprintf(stderr, "echo_server: cannot listen on %s: %s\n", address.to_string().c_str(),
                 listener.error().message().c_str());
    return 1;
  }
  const keel::async::SocketAddr bound = listener->local_addr();
  std::printf("echo_server: listening on %s\n", bound.to_string().c_str());
  std::printf("echo_server: %s, a %zu-byte buffer per connection, at most %zu connections\n",
              rt->ring().describe().c_str(), config.buffer_bytes, config.max_connections);
  std::fflush(stdout);

  // 3. The accept loop, a task that spawns a task per connection.
  rt->spawn(echo::serve(std::move(*listener), config, stats)).detach();

  // 4. --selftest: the load client on its own thread; when it is done it
  //    requests Shutdown and wakes the loop, as a signal would.
  echo::LoadReport report;
  std::optional<std::thread> load_client;
  if (selftest) {
    const keel::Shutdown& shutdown = world.shutdown_handle();
    load_client.emplace([&report, &shutdown, bound, load, wake = rt->ring().waker()] {
      report = echo::run_load(bound, load);
      shutdown.request();
      wake.wake();
    });
  }

  // 5. The loop, until Shutdown; then the Runtime's destruction ends every
  //    task still waiting (each closes its connection).
  world.run([&](keel::World&) { rt->tick(100ms); });
  const unsigned long long heap_frames = rt->arena_stats().heap_fallbacks;
  rt.reset();
  if (load_client) load_client->join();

  std::printf("echo_server: stopped (%s): %llu connections (%llu refused over --max_connections, %llu ended by an "
              "error), %llu bytes echoed, at most %zu open at once, %llu task frames from the heap\n",
              signals.received() > 0 ? signal_name(signals.last_signal()) : "selftest done",
              static_cast<unsigned long long>(stats.accepted), static_cast<unsigned long long>(stats.refused),
              static_cast<unsigned long long>(stats.ended_by_error), static_cast<unsigned long long>(stats.bytes),
              stats.most_open, heap_frames);
  if (!selftest) return 0;
  return report_selftest(report, load, stats) ? 0 : 1;
}
