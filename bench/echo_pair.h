// The one interface the echo benchmark drives: an echo server and its
// client, connected over 127.0.0.1, on one thread or two.
//
// Each implementation (raw liburing, raw epoll, Asio on either backend, and
// Keel's rows beside them) is a function `MakeEchoPair` that builds a pair
// in a `Mode`; the measurement code (echo_measure.h) times and checks what
// comes back, so every row is measured by the same loop. An implementation
// does IO only: it never times, never checks bytes, and throws
// std::system_error on a socket error or an unexpected end of stream.
//
//   std::unique_ptr<EchoPair> pair = make_raw_epoll_pair(Mode::TwoThreads);
//   pair->round_trip(message, reply);      // 64 bytes out, the same 64 back
//   pair->round_trips(run);                // as many as `run` gives, from the client's loop
//   StreamCheck check(kCheckAll);
//   pair->stream(chunk, 16, check);        // 16 x 64 KiB out, echoed back
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

namespace keel::bench::echo {

inline constexpr std::size_t kMessageBytes = 64;
inline constexpr std::size_t kChunkBytes = 64 * 1024;

// OneThread: the client's and the server's sockets on one loop, driven by
// the caller's thread, so a round trip is the loop's own cost twice over
// (send, the server's receive and send, the client's receive). TwoThreads:
// the server runs its own loop on a thread of its own (pinned to another
// CPU where there is one), the client's loop on the caller's thread.
enum class Mode { OneThread, TwoThreads };

// Byte `offset` of a stream: every chunk the client sends holds bytes 0 to
// kChunkBytes - 1 of this pattern, so byte `offset` of what comes back must
// be pattern_byte(offset % kChunkBytes). Not periodic within a chunk, so a
// lost or repeated piece shows.
inline std::byte pattern_byte(std::size_t offset) {
  const auto i = static_cast<std::uint32_t>(offset % kChunkBytes);
  return static_cast<std::byte>((i * 2654435761u) >> 13);
}

inline constexpr std::size_t kCheckAll = ~std::size_t{0};

// Counts what the client reads back during a stream and compares it with
// the pattern: all of it, or only the first `sample_bytes` of each piece
// (a receive's worth), which keeps the check out of the throughput.
class StreamCheck {
 public:
  explicit StreamCheck(std::size_t sample_bytes) : sample_bytes_(sample_bytes) {}

  // Called by the client, in stream order, with each piece it receives.
  void received(std::span<const std::byte> piece) {
    const std::size_t checked = piece.size() < sample_bytes_ ? piece.size() : sample_bytes_;
    for (std::size_t k = 0; k < checked; ++k) {
      if (piece[k] != pattern_byte(received_ + k)) ++mismatches_;
    }
    received_ += piece.size();
  }

  std::size_t received_bytes() const { return received_; }
  std::size_t mismatches() const { return mismatches_; }

 private:
  std::size_t sample_bytes_;
  std::size_t received_ = 0;
  std::size_t mismatches_ = 0;
};

// The round trips of one timed run, as the measurement hands them to an
// implementation's client loop (echo_measure.h has the one in use).
class RoundTripRun {
 public:
  virtual ~RoundTripRun() = default;
  // The next round trip: the message to send and the room for its reply,
  // with the clock started. False when the run has no more.
  virtual bool next(std::span<const std::byte>& message, std::span<std::byte>& reply) = 0;
  // The reply is complete: the clock stops.
  virtual void done() = 0;
};

// A run of the one round trip it is given, untimed: round_trip() of an
// implementation that makes its round trips in round_trips().
class OneRoundTrip final : public RoundTripRun {
 public:
  OneRoundTrip(std::span<const std::byte> message, std::span<std::byte> reply) : message_(message), reply_(reply) {}
  bool next(std::span<const std::byte>& message, std::span<std::byte>& reply) override {
    if (given_) return false;
    given_ = true;
    message = message_;
    reply = reply_;
    return true;
  }
  void done() override {}

 private:
  std::span<const std::byte> message_;
  std::span<std::byte> reply_;
  bool given_ = false;
};

// An echo server and its client. Built by a MakeEchoPair and used from the
// thread that built it; its destructor closes the client's socket, so a
// server on its own thread sees the end of the stream and stops, and joins
// that thread.
class EchoPair {
 public:
  virtual ~EchoPair() = default;

  // Sends `message` from the client; returns once `reply` (the same size)
  // holds everything the server echoed back.
  virtual void round_trip(std::span<const std::byte> message, std::span<std::byte> reply) = 0;

  // Round trips one after another, as many as `run` gives, each as
  // round_trip() makes it. An implementation whose client is a task or a
  // coroutine overrides this to go from one round trip to the next inside
  // it, as a program would, rather than entering its loop once per round
  // trip; so a row prices the loop's own work per round trip, not the cost
  // of entering it.
  virtual void round_trips(RoundTripRun& run) {
    std::span<const std::byte> message;
    std::span<std::byte> reply;
    while (run.next(message, reply)) {
      round_trip(message, reply);
      run.done();
    }
  }

  // Sends `chunk` `count` times from the client while reading the echo
  // back, handing every piece received to `check`; returns once
  // chunk.size() * count bytes have come back. The server echoes what it
  // receives as it receives it (up to kChunkBytes at a time).
  virtual void stream(std::span<const std::byte> chunk, std::size_t count, StreamCheck& check) = 0;
};

using MakeEchoPair = std::unique_ptr<EchoPair> (*)(Mode);

}  // namespace keel::bench::echo
