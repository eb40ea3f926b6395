// Must not compile: sleep_until() given a wall-clock time point (it jumps
// when the clock is set). Expected: the sleep_until static_assert, naming
// the time point's type.
#include <chrono>

#include "async/task.h"
#include "async/timer.h"

keel::async::Task<void> wait_for_open(std::chrono::system_clock::time_point open) {
  co_await keel::async::sleep_until(open);
}
