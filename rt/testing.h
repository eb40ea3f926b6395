// keel::testing::TestHarness — a World for unit-testing handlers without
// drivers: it owns the World and advances the sequence number on each
// dispatch, as a driver would. keel::testing::VirtualClock is a manual
// clock for timer tests (rt/timer.h).
//
//   keel::WorldBuilder wb;  wb.insert(Count{});
//   keel::testing::TestHarness harness(std::move(wb));
//   auto h = keel::handler(harness.registry(), [](keel::ResMut<Count> c, int e) { c->n += e; });
//   harness.dispatch(h, 5);
//   EXPECT_EQ(harness.world().resource<Count>().n, 5);
#pragma once

#include <cassert>
#include <chrono>
#include <utility>

#include "rt/handler.h"
#include "rt/world.h"

namespace keel::testing {

class TestHarness {
 public:
  explicit TestHarness(WorldBuilder builder) : world_(std::move(builder).build()) {}

  World& world() noexcept { return world_; }
  const Registry& registry() const noexcept { return world_.registry(); }

  // Advances the sequence, then runs the handler with the event.
  template <class H, class Event>
  void dispatch(H& handler, Event&& event) {
    world_.next_sequence();
    handler.run(world_, std::forward<Event>(event));
  }

 private:
  World world_;
};

// A clock that moves only when told: drives TimerPoller::poll (and anything
// else that takes a keel::Instant) deterministically in tests.
//
//   keel::testing::VirtualClock clock;
//   wheel.schedule(clock.now() + 5ms, h);
//   clock.advance(5ms);
//   timers.poll(world, clock.now());   // fires h, with clock.now() as its deadline
class VirtualClock {
 public:
  using time_point = std::chrono::steady_clock::time_point;  // keel::Instant

  // Starts at `start` (the steady clock's epoch by default).
  explicit VirtualClock(time_point start = time_point{}) noexcept : now_(start) {}

  time_point now() const noexcept { return now_; }
  // Moves the clock forward by `d` (not negative) and returns the new time.
  time_point advance(std::chrono::nanoseconds d) noexcept {
    assert(d.count() >= 0 && "keel: VirtualClock::advance takes a non-negative duration");
    now_ += d;
    return now_;
  }
  // Sets the time, forwards or (to test a misbehaving clock) backwards.
  void set(time_point t) noexcept { now_ = t; }

 private:
  time_point now_;
};

}  // namespace keel::testing
