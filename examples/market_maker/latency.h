// A log-linear latency histogram with a fixed footprint: recording is an
// index computation and an increment, never an allocation, so it can sit on
// the hot path (the order gateway records one sample per order).
//
//   mm::LatencyHistogram h;
//   h.record(12'345);                 // nanoseconds
//   h.percentile(0.99);               // an upper bound of the bucket holding the 99th percentile
//
// Values below 64 ns are exact; above, each power of two is split into 32
// buckets, so a reported percentile is within 1/32 (about 3%) above the true
// value. Values from 2^40 ns (18 minutes) up share the last bucket.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace mm {

class LatencyHistogram {
 public:
  static constexpr int kSubBits = 5;                   // 32 buckets per power of two
  static constexpr std::uint64_t kExact = 2u << kSubBits;  // 0..63: one bucket per value
  static constexpr int kMaxBits = 40;
  static constexpr std::size_t kBuckets = kExact + (kMaxBits - kSubBits) * (1u << kSubBits);

  void record(std::int64_t ns) noexcept {
    const std::uint64_t v = ns < 0 ? 0 : static_cast<std::uint64_t>(ns);
    ++counts_[index_of(v)];
    ++count_;
    if (v > max_) max_ = v;
  }

  std::uint64_t count() const noexcept { return count_; }
  std::uint64_t max() const noexcept { return max_; }

  // The value at or below which a fraction `q` (0..1) of the samples lie,
  // as its bucket's upper bound (capped at the largest sample); 0 when empty.
  std::uint64_t percentile(double q) const noexcept {
    if (count_ == 0) return 0;
    std::uint64_t rank = static_cast<std::uint64_t>(q * static_cast<double>(count_) + 0.5);
    if (rank < 1) rank = 1;
    if (rank > count_) rank = count_;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) {
        const std::uint64_t upper = upper_bound_of(i);
        return upper < max_ ? upper : max_;
      }
    }
    return max_;
  }

  // Bucket arithmetic, public for tests.
  static constexpr std::size_t index_of(std::uint64_t v) noexcept {
    if (v < kExact) return static_cast<std::size_t>(v);
    const int msb = std::bit_width(v) - 1;  // >= kSubBits + 1
    if (msb >= kMaxBits) return kBuckets - 1;
    const int shift = msb - kSubBits;
    const std::uint64_t sub = (v >> shift) - (1u << kSubBits);  // 0..31
    return static_cast<std::size_t>(kExact + static_cast<std::uint64_t>(msb - kSubBits - 1) * (1u << kSubBits) + sub);
  }
  static constexpr std::uint64_t upper_bound_of(std::size_t index) noexcept {
    if (index < kExact) return index;
    const std::uint64_t k = index - kExact;
    const int shift = static_cast<int>(k >> kSubBits) + 1;
    const std::uint64_t sub = (k & ((1u << kSubBits) - 1)) + (1u << kSubBits);
    return ((sub + 1) << shift) - 1;
  }

 private:
  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace mm
