// The echo server's load client: N clients on one thread, each on its own
// TCP connection doing M round trips — send a message, read back as many
// bytes, check every one against the pattern sent — with each round
// trip's latency recorded. It runs on a World and a Runtime of its own,
// on the thread that calls run_load(), so that the server it measures has
// its thread to itself.
//
//   echo::LoadConfig load{.clients = 16, .messages = 200, .message_bytes = 64};
//   std::thread client([&] { report = echo::run_load(server_address, load); });
//   ...
//   if (report.passed()) std::printf("p99 %.1f us\n", report.latency_us(0.99));
//
// Not for: measuring a server on another machine with a different
// protocol (it expects the exact bytes back), or open-loop load (each
// client waits for its echo before it sends again).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "async/socket_addr.h"
#include "rt/uring.h"

namespace echo {

struct LoadConfig {
  std::size_t clients = 64;
  std::size_t messages = 1000;  // round trips per client
  std::size_t message_bytes = 64;
  keel::Backend backend = keel::Backend::Auto;
  // A client still running this long after the start fails ("did not finish").
  std::chrono::seconds deadline = std::chrono::seconds(60);
};

struct LoadReport {
  std::size_t clients = 0;
  std::size_t finished = 0;          // clients that did every round trip
  std::uint64_t round_trips = 0;     // completed, over all clients
  std::uint64_t bytes_checked = 0;   // echoed bytes compared with what was sent
  std::uint64_t bytes_wrong = 0;     // ...that differed
  std::vector<std::string> failures;  // why each unfinished client stopped, in client order
  std::chrono::nanoseconds elapsed{};  // from the first connect to the last client's end
  // Round-trip latencies, ascending: every one, or a uniform sample of
  // LatencySamples::kKept of them in a longer run.
  std::vector<std::uint32_t> latencies_ns;
  std::string backend;                      // the client's poll source

  bool passed() const noexcept { return finished == clients && bytes_wrong == 0 && failures.empty(); }
  // The round-trip latency at quantile q (0.5, 0.99), in microseconds; 0 without round trips.
  double latency_us(double q) const;
  double messages_per_second() const;
  // Echoed payload bytes per second, in millions (each way).
  double megabytes_per_second(std::size_t message_bytes) const;
};

// Round-trip latencies in bounded memory: every sample up to `keep` of
// them, then a uniform sample of all (reservoir sampling), so quantiles
// stay unbiased however long the run and memory stays at `keep` values.
class LatencySamples {
 public:
  static constexpr std::size_t kKept = std::size_t{1} << 20;  // 4 MiB

  explicit LatencySamples(std::size_t keep = kKept) : keep_(keep) {}
  void record(std::chrono::nanoseconds latency);
  std::uint64_t seen() const noexcept { return seen_; }
  // The samples kept, ascending.
  std::vector<std::uint32_t> sorted() &&;

 private:
  std::size_t keep_;
  std::uint64_t seen_ = 0;
  std::vector<std::uint32_t> kept_;
  std::mt19937_64 random_{0x5eed};  // fixed: a run's sample is reproducible
};

// The bytes message `message` of client `client` carries: a pattern that
// differs between clients and between messages, so an echo delivered to
// the wrong connection, or out of order, does not match.
void fill_pattern(std::span<std::byte> out, std::size_t client, std::size_t message) noexcept;

// Runs the load against `server` on the calling thread (a World and a
// Runtime of its own) until every client finished or failed. Never throws
// for what the network does: failures are in the report.
LoadReport run_load(const keel::async::SocketAddr& server, const LoadConfig& config);

}  // namespace echo
