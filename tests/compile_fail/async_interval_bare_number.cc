// Must not compile: an Interval whose period is a bare number. Expected:
// the timer static_assert, naming the type passed.
#include "async/timer.h"

void make_ticker() { keel::async::Interval tick(10); }
