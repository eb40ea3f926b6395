// The market maker: a complete small trading loop on Keel, as a library so
// that main.cc and the test share it.
//
//   mm::Options o;  o.rate = 5'000;  o.seconds = 1;
//   mm::Summary s = mm::run_market_maker(o);   // runs the feed thread and the loop, returns at the end
//   mm::print_summary(stdout, s);
//
// What runs where (see docs/market-maker.md for the tour):
//   feed thread   synthetic quotes as UDP datagrams to 127.0.0.1 (feed.h)
//   loop thread   keel::Uring watch on the socket -> UdpReceiver drains it with
//                 recvmmsg -> ingest pipeline (decode, validate, count the
//                 malformed, match our resting quotes, update the book, mark
//                 the instrument's DataSource) -> one reactor per strategy
//                 instance re-quotes -> orders through the risk DAG (position,
//                 notional and rate arms, merged) -> the order gateway, which
//                 records tick-to-order latency; a TimerWheel prints a status
//                 line every second; SIGINT/SIGTERM and the feed's end stop it.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "examples/market_maker/wire.h"
#include "rt/uring.h"

namespace mm {

struct Options {
  double rate = 200'000;   // --rate: datagrams per second sent by the feed
  double seconds = 5;      // --seconds: how long the feed sends
  int instruments = 8;     // --instruments: one order book (and two strategy reactors) each
  keel::Backend backend = keel::Backend::Auto;  // --backend
  std::uint32_t malformed_per_million = 1000;   // datagrams the feed corrupts on purpose
  std::uint64_t seed = 42;                      // the feed's random walk
  std::FILE* status_out = stdout;               // the per-second status line; nullptr: none
  bool handle_signals = true;                   // route SIGINT/SIGTERM to Shutdown
};

enum class RejectReason : std::uint8_t { kPosition, kNotional, kRate };
inline constexpr std::size_t kRejectReasons = 3;
std::string_view to_string(RejectReason r) noexcept;

// Everything the run counted. Invariants (checked by market_maker_test):
//   quotes_applied + malformed == datagrams_received <= feed_sent
//   malformed_by_kind == feed_corrupted (when nothing was lost)
//   latency_samples == orders_sent == orders_traced
struct Summary {
  keel::Backend backend = keel::Backend::Auto;
  std::string backend_description;
  int instruments = 0;
  std::uint64_t receive_buffer_bytes = 0;  // the socket's SO_RCVBUF as the kernel set it
  std::size_t reactors = 0;
  double loop_seconds = 0;     // from the first poll to the end of the loop
  bool interrupted = false;    // a signal ended the run
  bool feed_fell_behind = false;

  // feed
  std::uint64_t feed_sent = 0;
  MalformedCounts feed_corrupted{};
  std::uint64_t feed_send_errors = 0;
  double feed_seconds = 0;

  // ingest
  std::uint64_t datagrams_received = 0;
  std::uint64_t quotes_applied = 0;
  MalformedCounts malformed{};
  std::uint64_t recv_calls = 0;      // recvmmsg(2) calls, EAGAIN included
  std::uint64_t readiness_events = 0;

  // strategies, risk, gateway
  std::uint64_t reactor_runs = 0;
  std::uint64_t orders_sent = 0;
  std::uint64_t orders_traced = 0;   // orders carrying the feed sequence and send time of their tick
  std::uint64_t risk_rejects[kRejectReasons] = {};
  std::uint64_t fills = 0;
  std::int64_t peak_position = 0;    // the largest |position| of any strategy in any instrument, lots

  // tick-to-order latency, nanoseconds
  std::uint64_t latency_samples = 0;
  std::uint64_t latency_p50_ns = 0;
  std::uint64_t latency_p99_ns = 0;
  std::uint64_t latency_p999_ns = 0;
  std::uint64_t latency_max_ns = 0;

  std::uint64_t malformed_total() const noexcept;
  std::uint64_t feed_corrupted_total() const noexcept;
  std::uint64_t risk_rejects_total() const noexcept;
  // Sent but never read: dropped by the kernel (receive buffer full) or
  // still queued when a signal ended the run.
  std::uint64_t not_received() const noexcept {
    return feed_sent > datagrams_received ? feed_sent - datagrams_received : 0;
  }
};

// Runs the feed thread and the Keel loop until the feed has sent everything
// and the loop has read it (or a grace period passed), or a signal came.
// Throws keel::UringError when the requested backend cannot be opened, and
// std::system_error when the socket cannot be set up.
Summary run_market_maker(const Options& options);

// The summary table.
void print_summary(std::FILE* out, const Summary& s);

}  // namespace mm
