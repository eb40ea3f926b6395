// An in-memory key-value server that speaks the Redis protocol (RESP2), on
// Keel: redis-cli and redis-benchmark drive it unchanged. One shard per
// --threads, each a thread with its own World, Runtime and ring, all
// accepting on one port. Ctrl-C (SIGINT) or SIGTERM stops it cleanly and
// prints what it served. docs/kv-server.md quotes this file.
//
//   bazel run -c opt //examples:kv_server -- --port=6380
//   redis-cli -p 6380 set greeting hello
//   redis-benchmark -p 6380 -t set,get -n 200000 -c 50 -P 16
#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <exception>
#include <string>

#include "absl/flags/flag.h"
#include "examples/fd_limit.h"
#include "examples/flags.h"
#include "examples/kv_server/server.h"

ABSL_FLAG(std::string, bind, "127.0.0.1", "the address to listen on, numeric IPv4 or IPv6 (loopback by default)");
ABSL_FLAG(int, port, 6380, "the TCP port to listen on, 0 to 65535; 0 picks a free one (printed)");
ABSL_FLAG(int, threads, 1, "shards, each a thread with its own ring, 1 to 64; keys are spread among them by hash");
ABSL_FLAG(std::string, backend, "auto", "the poll source: auto, io_uring or epoll");
ABSL_FLAG(int, max_connections, 10'000, "connections open at once per shard, 1 to 1000000");
ABSL_FLAG(int64_t, max_bulk_bytes, 512LL << 20, "the longest argument a client may send, 1 to 2147483647 bytes");
ABSL_FLAG(int, busy_poll_us, 0,
          "after its last work a shard polls without sleeping this long, 0 to 1000000 microseconds (0: off)");
ABSL_FLAG(int, sweep_ms, 100, "how often each shard removes expired keys, 1 to 60000 milliseconds");

int main(int argc, char** argv) {
  examples::parse_flags(argc, argv, "A Redis-protocol key-value server on Keel (docs/kv-server.md)");
  const int port = examples::checked_flag(
      FLAGS_port, [](int p) { return p >= 0 && p <= 65535; }, "must be from 0 to 65535");
  const keel::async::SocketAddr address = examples::listen_address_flag(FLAGS_bind, port);
  kv::ServerConfig config;
  config.backend = examples::backend_flag(FLAGS_backend);
  config.shards = static_cast<std::size_t>(examples::checked_flag(
      FLAGS_threads, [](int n) { return n >= 1 && n <= 64; }, "must be from 1 to 64"));
  config.max_connections = static_cast<std::size_t>(examples::checked_flag(
      FLAGS_max_connections, [](int n) { return n >= 1 && n <= 1'000'000; }, "must be from 1 to 1000000"));
  config.limits.max_bulk_bytes = static_cast<std::size_t>(examples::checked_flag(
      FLAGS_max_bulk_bytes, [](int64_t n) { return n >= 1 && n <= 2147483647; }, "must be from 1 to 2147483647"));
  config.sweep_period = std::chrono::milliseconds(examples::checked_flag(
      FLAGS_sweep_ms, [](int n) { return n >= 1 && n <= 60'000; }, "must be from 1 to 60000"));
  config.busy_poll = std::chrono::microseconds(examples::checked_flag(
      FLAGS_busy_poll_us, [](int n) { return n >= 0 && n <= 1'000'000; }, "must be from 0 to 1000000"));
  examples::raise_fd_limit(config.shards * config.max_connections + 64);

  // SIGINT and SIGTERM are taken by sigwait below: blocked before the
  // shards' threads start, so that they inherit the mask and none of them
  // is interrupted by the signal.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto server = kv::Server::start(address, config);
  if (!server) {
    std::fprintf(stderr, "kv_server: cannot listen on %s: %s\n", address.to_string().c_str(),
                 server.error().message().c_str());
    return 1;
  }
  std::printf("kv_server: listening on %s\n", (*server)->address().to_string().c_str());
  std::printf("kv_server: %zu shard%s on %s\n", (*server)->shards(), (*server)->shards() == 1 ? "" : "s",
              (*server)->backend().c_str());
  std::fflush(stdout);

  int signal = 0;
  sigwait(&stop_signals, &signal);
  const kv::ServerStats stats = (*server)->stop();
  std::printf("kv_server: stopped (%s): %llu connections, %llu commands (%llu forwarded between shards), "
              "%llu closed for protocol errors\n",
              signal == SIGINT ? "SIGINT" : "SIGTERM", static_cast<unsigned long long>(stats.accepted),
              static_cast<unsigned long long>(stats.commands), static_cast<unsigned long long>(stats.forwarded),
              static_cast<unsigned long long>(stats.protocol_errors));
  return 0;
}
