// Must not compile: a handler type must say which event it takes, with
// `using event_type = E;`. Expected: schedule()'s static_assert naming the
// type and listing what a handler type declares.
#include <string_view>

#include "rt/timer.h"

struct OnTimeout {
  void run(keel::World&, keel::Instant) {}
  std::string_view name() const noexcept { return "OnTimeout"; }
};

void build(keel::TimerWheel& wheel, keel::Instant at) { wheel.schedule(at, OnTimeout{}); }
