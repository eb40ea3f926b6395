// An echo that also reads kColdLines cache lines of its own before each
// round trip (see echo_cold_lines.h).
#include "bench/echo_cold_lines.h"

#include <benchmark/benchmark.h>

#include <cstddef>
#include <memory>
#include <span>
#include <utility>
#include <vector>


namespace keel::bench::echo {
namespace {

// One cache line of the chain: the index of the next line to read.
struct alignas(64) Line {
  std::size_t next = 0;
};

// Three lines apart, so that the prefetcher's pairing of adjacent lines
// brings in none of the next ones.
constexpr std::size_t kStride = 3;

class ColdLinesPair final : public EchoPair {
 public:
  explicit ColdLinesPair(std::unique_ptr<EchoPair> inner) : inner_(std::move(inner)), lines_(kColdLines * kStride) {
    for (std::size_t i = 0; i < kColdLines; ++i) lines_[i * kStride].next = (i + 1) % kColdLines * kStride;
  }

  void round_trip(std::span<const std::byte> message, std::span<std::byte> reply) override {
    read_lines();
    inner_->round_trip(message, reply);
  }

  void round_trips(RoundTripRun& run) override {
    // The lines are read once each round trip's clock has started.
    ColdRun cold(*this, run);
    inner_->round_trips(cold);
  }

  void stream(std::span<const std::byte> chunk, std::size_t count, StreamCheck& check) override {
    inner_->stream(chunk, count, check);
  }

 private:
  class ColdRun final : public RoundTripRun {
   public:
    ColdRun(ColdLinesPair& pair, RoundTripRun& run) : pair_(pair), run_(run) {}
    bool next(std::span<const std::byte>& message, std::span<std::byte>& reply) override {
      if (!run_.next(message, reply)) return false;
      pair_.read_lines();
      return true;
    }
    void done() override { run_.done(); }

   private:
    ColdLinesPair& pair_;
    RoundTripRun& run_;
  };

  // Each load waits for the one before, as a runtime's walk from a
  // completion to its operation, task and frame does.
  void read_lines() {
    std::size_t at = 0;
    for (std::size_t i = 0; i < kColdLines; ++i) at = lines_[at].next;
    benchmark::DoNotOptimize(at);
  }

  std::unique_ptr<EchoPair> inner_;
  std::vector<Line> lines_;
};

}  // namespace

std::unique_ptr<EchoPair> with_cold_lines(std::unique_ptr<EchoPair> inner) {
  return std::make_unique<ColdLinesPair>(std::move(inner));
}

}  // namespace keel::bench::echo
