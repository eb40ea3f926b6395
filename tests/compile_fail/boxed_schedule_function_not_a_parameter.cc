// Must not compile: schedule() builds a plain function into a handler with
// keel::handler(), which refuses a parameter that is not a keel parameter.
// Expected: keel::handler()'s own static_assert, and no "invalid use of
// void expression" after it.
#include "rt/timer.h"

void build(keel::TimerWheel& wheel, keel::Instant at) {
  wheel.schedule(at, [](int, keel::Instant) {});
}
