// The echo benchmark's measurement, shared by every row: the round-trip
// and stream loops, the percentiles, the benchmark registrations and the
// main() that prints one table for all rows.
//
// An implementation is one MakeEchoPair (echo_pair.h); registering it adds
// four Google Benchmark cases, echo/<name>/{round_trip,stream}/
// {one_thread,two_threads}, all timed here:
//   - round_trip: 64 bytes out, the same 64 back, 100 per benchmark
//     iteration, made one after another by the pair's client loop
//     (EchoPair::round_trips), each timed with steady_clock and kept; counters p50_ns and
//     p99_ns (nearest rank over all of the run's round trips) and ring_sqes
//     (SQEs the process's io_uring instances consumed, per round trip: 0
//     for an epoll loop);
//   - stream: kStreamBytes as 64 KiB chunks per iteration, echoed back and
//     counted, a 64-byte sample of every receive compared with the
//     pattern; bytes_per_second is the echoed payload (one way) per second,
//     ring_sqes per 64 KiB chunk.
//
//   int main(int argc, char** argv) {
//     register_echo_benchmarks("raw_epoll", make_raw_epoll_pair);
//     return echo_main(argc, argv, nullptr);
//   }
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "bench/echo_pair.h"

namespace keel::bench::echo {

inline constexpr std::size_t kStreamBytes = std::size_t{64} * 1024 * 1024;
inline constexpr std::size_t kStreamChunks = kStreamBytes / kChunkBytes;

// The smallest sample with at least the fraction `q` (0 < q <= 1) of all
// samples at or below it (the nearest-rank percentile). Reorders
// `samples`, which must not be empty.
std::int64_t percentile(std::span<std::int64_t> samples, double q);

// A kChunkBytes chunk holding pattern_byte(0) .. pattern_byte(kChunkBytes - 1).
std::vector<std::byte> pattern_chunk();

// Round trips, one after another, each message distinct (the round's number
// and the pattern), each reply compared with its message after the clock
// is read, so the comparison is not in the time.
class RoundTrips {
 public:
  // Runs `count` round trips through `pair`'s client loop
  // (EchoPair::round_trips), appending each one's time in ns to `samples`.
  void run(EchoPair& pair, std::size_t count, std::vector<std::int64_t>& samples);
  // One round trip; its time in ns.
  std::int64_t run(EchoPair& pair);

  std::uint64_t rounds() const { return round_; }
  std::uint64_t mismatches() const { return mismatches_; }

 private:
  class Run;

  std::array<std::byte, kMessageBytes> message_{};
  std::array<std::byte, kMessageBytes> reply_{};
  std::uint64_t round_ = 0;
  std::uint64_t mismatches_ = 0;
};

// `inner` entered once per round trip: round_trips() makes each one with
// inner's round_trip(), whatever client loop inner's own round_trips()
// has. Beside `inner`, what entering its loop costs per round trip (for
// Keel, a block_on of a task of its own).
class EnteredPerRoundTrip final : public EchoPair {
 public:
  explicit EnteredPerRoundTrip(std::unique_ptr<EchoPair> inner) : inner_(std::move(inner)) {}
  void round_trip(std::span<const std::byte> message, std::span<std::byte> reply) override {
    inner_->round_trip(message, reply);
  }
  void stream(std::span<const std::byte> chunk, std::size_t count, StreamCheck& check) override {
    inner_->stream(chunk, count, check);
  }

 private:
  std::unique_ptr<EchoPair> inner_;
};

template <MakeEchoPair make>
std::unique_ptr<EchoPair> make_entered_per_round_trip(Mode mode) {
  return std::make_unique<EnteredPerRoundTrip>(make(mode));
}

// Round trips of two pairs interleaved in blocks within one process, the
// pair that goes first alternating from one call to the next: both see the
// same machine state, so the ratio of their percentiles holds on a machine
// whose speed drifts between the runs of separate rows.
class InterleavedRoundTrips {
 public:
  InterleavedRoundTrips(EchoPair& a, EchoPair& b, int block) : a_(a), b_(b), block_(block) {}

  // `block` round trips through each pair.
  void run_blocks();

  std::vector<std::int64_t>& samples_a() { return samples_a_; }
  std::vector<std::int64_t>& samples_b() { return samples_b_; }
  std::uint64_t mismatches() const { return trips_a_.mismatches() + trips_b_.mismatches(); }

 private:
  EchoPair& a_;
  EchoPair& b_;
  int block_;
  bool a_first_ = true;
  RoundTrips trips_a_;
  RoundTrips trips_b_;
  std::vector<std::int64_t> samples_a_;
  std::vector<std::int64_t> samples_b_;
};

// Registers the four cases of one implementation (see the top of this file).
void register_echo_benchmarks(const std::string& name, MakeEchoPair make);

// Registers echo_ab/<a>_vs_<b>/round_trip/one_thread: one-thread round
// trips of the two interleaved (InterleavedRoundTrips), with counters
// a_p50_ns, b_p50_ns and p50_ratio (a / b). Printed with the other cases,
// not in the table.
void register_interleaved_round_trips(const std::string& name_a, MakeEchoPair make_a, const std::string& name_b,
                                      MakeEchoPair make_b);

// Registers echo_ab/<a>_vs_<b>/stream/one_thread: one-thread streams of
// the two interleaved in blocks of 16 MiB, the pair that goes first
// alternating, with counters a_GBps, b_GBps (the median block's rate) and
// rate_ratio (a / b).
void register_interleaved_streams(const std::string& name_a, MakeEchoPair make_a, const std::string& name_b,
                                  MakeEchoPair make_b);

// main() of an echo benchmark binary: runs the registered cases (console
// output as usual) and prints one Markdown table of every row. With
// `other_configuration`, the name of a binary beside this one, it then
// runs that binary as a child process with the same arguments and its
// rows join the table: Asio's two backends cannot share a binary (see
// echo.cc). A binary run as that child sends its rows back through the
// file descriptor named by KEEL_ECHO_ROWS_FD instead of printing a table.
int echo_main(int argc, char** argv, const char* other_configuration);

}  // namespace keel::bench::echo
