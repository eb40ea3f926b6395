// Process-wide serial numbers, for tokens and ids that must not be mistaken
// for another object's (a SystemId from another SchedulerInstaller, a
// BroadcastToken from another Broadcast).
#pragma once

#include <atomic>
#include <cstdint>

namespace keel::internal {

// A number never returned before in this process, starting at 1 (0 stays
// free to mean "none"). Strictly increasing in the order of the calls.
inline std::uint64_t next_serial() noexcept {
  static std::atomic<std::uint64_t> counter{1};
  // SAFETY: relaxed is enough: only the uniqueness and the per-thread order
  // of the returned values matter, and fetch_add is atomic under any
  // ordering; no other memory is published through this counter.
  return counter.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace keel::internal
