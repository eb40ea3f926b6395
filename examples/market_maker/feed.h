// The synthetic market-data feed: a thread of its own that sends quotes as
// UDP datagrams to the loop's socket on 127.0.0.1, paced by the steady
// clock, and stops by itself.
//
//   mm::FeedControl control;
//   std::thread t([&] { report = mm::run_feed(options, port, waker, control); });
//
// Pacing: every ~100 µs the feed sends the datagrams due by then
// (rate × elapsed) as a batch of send(2) calls, each datagram stamped with
// the steady clock just before its own send. It sends exactly llround(rate ×
// seconds) datagrams, unless told to stop or unless it falls more than two
// seconds behind (a machine too busy for the rate), then publishes the count
// and wakes the loop. A fraction
// of the datagrams (malformed_per_million) is corrupted on purpose, each
// kind of mm::Malformed in turn, and counted by kind.
//
// This is not Keel code: it stands in for an exchange, on another thread,
// and shares with the loop only the atomics in FeedControl and a UringWaker.
#pragma once

#include <atomic>
#include <cstdint>

#include "examples/market_maker/wire.h"
#include "rt/uring.h"

namespace mm {

struct FeedOptions {
  double rate = 200'000;  // datagrams per second
  double seconds = 5;
  int instruments = 8;
  std::uint32_t malformed_per_million = 1000;  // 0.1%
  std::uint64_t seed = 42;
};

// Shared by the feed thread and the loop thread. Plain sequentially
// consistent atomics: `sent` is stored before `done`, so a thread that sees
// `done` sees the final count.
struct FeedControl {
  std::atomic<bool> stop{false};          // loop -> feed: stop early (SIGINT)
  std::atomic<bool> done{false};          // feed -> loop: no more datagrams
  std::atomic<std::uint64_t> sent{0};     // datagrams handed to the kernel so far
};

// What the feed did, read after joining its thread.
struct FeedReport {
  std::uint64_t sent = 0;
  MalformedCounts corrupted{};  // by kind, among `sent`
  std::uint64_t send_errors = 0;
  bool fell_behind = false;     // stopped at the time bound before sending everything
  double elapsed_seconds = 0;
  int error = 0;                // an errno when the feed could not run at all
};

// Runs the feed to completion on the calling thread (start it in a
// std::thread). Sends to 127.0.0.1:`port`; calls waker.wake() once at the
// end, whatever happened.
FeedReport run_feed(const FeedOptions& options, std::uint16_t port, keel::UringWaker waker, FeedControl& control);

}  // namespace mm
