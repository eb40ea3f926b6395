// Must not compile: sleep() given a bare number, which has no unit.
// Expected: the timer static_assert, naming the type passed.
#include "async/task.h"
#include "async/timer.h"

keel::async::Task<void> nap() { co_await keel::async::sleep(5); }
