#include "examples/market_maker/feed.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <thread>
#include <vector>

namespace mm {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::nanoseconds;

constexpr std::uint64_t kBatch = 64;  // datagrams per turn of the pacing loop, at most
constexpr nanoseconds kPace = std::chrono::microseconds(100);  // target gap between batches
constexpr nanoseconds kMaxLag = std::chrono::seconds(2);      // the time bound past `seconds`

std::int64_t now_ns() { return std::chrono::duration_cast<nanoseconds>(Clock::now().time_since_epoch()).count(); }

// xorshift64*: fast, deterministic for a seed.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : s_(seed ? seed : 0x9E3779B97F4A7C15ull) {}
  std::uint64_t next() {
    s_ ^= s_ >> 12;
    s_ ^= s_ << 25;
    s_ ^= s_ >> 27;
    return s_ * 0x2545F4914F6CDD1Dull;
  }
  std::uint64_t below(std::uint64_t n) { return next() % n; }

 private:
  std::uint64_t s_;
};

// One instrument's synthetic market: a random walk of the bid with a
// spread of 1 to 3 ticks.
struct Market {
  std::int64_t bid = 0;
  std::int64_t spread = 1;
};

class Socket {
 public:
  Socket() : fd_(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {}
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

// Wakes the loop when the feed returns, however it returns.
struct WakeOnExit {
  keel::UringWaker& waker;
  FeedControl& control;
  FeedReport& report;
  ~WakeOnExit() {
    control.sent.store(report.sent);
    control.done.store(true);
    waker.wake();
  }
};

}  // namespace

FeedReport run_feed(const FeedOptions& options, std::uint16_t port, keel::UringWaker waker, FeedControl& control) {
  FeedReport report;
  WakeOnExit wake_on_exit{waker, control, report};

  Socket sock;
  if (sock.fd() < 0) {
    report.error = errno;
    return report;
  }
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(sock.fd(), reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0) {
    report.error = errno;
    return report;
  }

  const int instruments = std::max(1, options.instruments);
  const std::uint64_t total = static_cast<std::uint64_t>(std::llround(std::max(0.0, options.rate * options.seconds)));
  const double ns_per_msg = options.rate > 0 ? 1e9 / options.rate : 0;

  Rng rng(options.seed);
  std::vector<Market> markets(static_cast<std::size_t>(instruments));
  for (int i = 0; i < instruments; ++i) markets[static_cast<std::size_t>(i)] = {.bid = 10'000 + 100 * i, .spread = 2};

  std::array<std::byte, kQuoteBytes> payload{};
  std::uint64_t corrupted_total = 0;
  const Clock::time_point start = Clock::now();
  const Clock::time_point give_up =
      start + std::chrono::duration_cast<nanoseconds>(std::chrono::duration<double>(std::max(0.0, options.seconds))) +
      kMaxLag;

  while (report.sent < total && !control.stop.load()) {
    const Clock::time_point now = Clock::now();
    if (now > give_up) {
      report.fell_behind = true;
      break;
    }
    // How many datagrams are due by now (the pace is set by the clock, not
    // by how fast the sends go: a slow batch is caught up by the next).
    const double elapsed_ns = static_cast<double>(std::chrono::duration_cast<nanoseconds>(now - start).count());
    const std::uint64_t due =
        std::min(total, static_cast<std::uint64_t>(ns_per_msg > 0 ? elapsed_ns / ns_per_msg : 0.0) + 1);
    if (due <= report.sent) {
      // Sleep until a batch's worth is due (at least one datagram).
      const double batch = std::max(1.0, static_cast<double>(kPace.count()) / std::max(ns_per_msg, 1.0));
      const auto wake_at = start + nanoseconds(static_cast<std::int64_t>((static_cast<double>(report.sent) + batch - 1) *
                                                                         ns_per_msg));
      std::this_thread::sleep_until(std::min(wake_at, now + kPace));
      continue;
    }
    // At most one batch per turn, so that the stop flag and the time bound
    // are checked often even when the feed has fallen behind.
    const std::uint64_t n = std::min<std::uint64_t>(due - report.sent, kBatch);
    for (std::uint64_t i = 0; i < n; ++i) {
      const int instrument = static_cast<int>(rng.below(static_cast<std::uint64_t>(instruments)));
      Market& m = markets[static_cast<std::size_t>(instrument)];
      const std::uint64_t step = rng.below(10);  // bid: -1 (20%), unchanged (60%), +1 (20%)
      m.bid += step < 2 ? -1 : step >= 8 ? 1 : 0;
      if (rng.below(4) == 0) m.spread = 1 + static_cast<std::int64_t>(rng.below(3));
      WireQuote w{.instrument = static_cast<std::uint16_t>(instrument),
                  .seq = report.sent + 1,
                  .send_ns = 0,
                  .bid_px = m.bid,
                  .ask_px = m.bid + m.spread,
                  .bid_qty = static_cast<std::uint32_t>(1 + rng.below(200)),
                  .ask_qty = static_cast<std::uint32_t>(1 + rng.below(200))};
      std::size_t length = kQuoteBytes;
      int kind = -1;
      if (rng.below(1'000'000) < options.malformed_per_million) {
        // Corrupt it, each kind in turn.
        kind = static_cast<int>(corrupted_total++ % kMalformedKinds);
        switch (static_cast<Malformed>(kind)) {
          case Malformed::kBadLength:
            length = 30;
            break;
          case Malformed::kBadMagic:
            w.magic ^= 0x00FF00FFu;
            break;
          case Malformed::kUnknownInstrument:
            w.instrument = static_cast<std::uint16_t>(instruments + static_cast<int>(rng.below(1000)));
            break;
          case Malformed::kCrossed:
            w.ask_px = w.bid_px - 1;
            break;
        }
      }
      // One send(2) per datagram, stamped just before it: on loopback the
      // sender's send() also runs the receive path, so stamping a whole
      // sendmmsg(2) batch up front would count the batch's own sending time
      // as the loop's latency.
      w.send_ns = now_ns();
      encode(w, payload.data());
      for (;;) {
        if (::send(sock.fd(), payload.data(), length, 0) >= 0) break;
        if (errno == EINTR) continue;
        ++report.send_errors;
        if (errno == ENOBUFS || errno == EAGAIN) {
          std::this_thread::sleep_for(kPace);
          continue;
        }
        report.error = errno;  // ECONNREFUSED: the loop closed its socket
        return report;
      }
      ++report.sent;
      if (kind >= 0) ++report.corrupted[static_cast<std::size_t>(kind)];
    }
    control.sent.store(report.sent);
  }
  report.elapsed_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return report;
}

}  // namespace mm
