// Calibration: an echo that, before each round trip, also reads
// kColdLines cache lines nothing else touches, one load after another.
// Beside the echo it wraps, it prices a cache line of state touched once
// per round trip between the system calls: what a runtime's own state
// (its operations, tasks, frames, queues) costs on this machine, apart
// from the instructions that touch it. The price depends on how much the
// echo itself touches, so the wrapper runs around a raw loop and around
// Keel.
//
//   register_interleaved_round_trips("raw_uring_cold_lines", make_with_cold_lines<make_raw_uring_pair>,
//                                    "raw_uring", make_raw_uring_pair);
//
// Not for timing an echo by itself.
#pragma once

#include <cstddef>
#include <memory>

#include "bench/echo_pair.h"

namespace keel::bench::echo {

inline constexpr std::size_t kColdLines = 24;

// `inner`, reading the lines before each round trip; streams unchanged.
std::unique_ptr<EchoPair> with_cold_lines(std::unique_ptr<EchoPair> inner);

template <MakeEchoPair make>
std::unique_ptr<EchoPair> make_with_cold_lines(Mode mode) {
  return with_cold_lines(make(mode));
}

}  // namespace keel::bench::echo
