// Must not compile: the type declares keel::Instant as its event_type, but
// its run() takes something else. Expected: schedule()'s static_assert
// naming the type.
#include <string_view>

#include "rt/timer.h"

struct OnTimeout {
  using event_type = keel::Instant;
  void run(keel::World&, int) {}
  std::string_view name() const noexcept { return "OnTimeout"; }
};

void build(keel::TimerWheel& wheel, keel::Instant at) { wheel.schedule(at, OnTimeout{}); }
