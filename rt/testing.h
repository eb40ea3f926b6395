// keel::testing::TestHarness — a World for unit-testing handlers without
// drivers: it owns the World and advances the sequence number on each
// dispatch, as a driver would.
//
//   keel::WorldBuilder wb;  wb.insert(Count{});
//   keel::testing::TestHarness harness(std::move(wb));
//   auto h = keel::handler(harness.registry(), [](keel::ResMut<Count> c, int e) { c->n += e; });
//   harness.dispatch(h, 5);
//   EXPECT_EQ(harness.world().resource<Count>().n, 5);
#pragma once

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

}  // namespace keel::testing
