// Must not compile: timeout() given the JoinHandle of a spawned task, which
// it cannot destroy. Expected: the timeout static_assert, naming the
// handle's type.
#include <chrono>

#include "async/join_handle.h"
#include "async/runtime.h"
#include "async/task.h"
#include "async/timer.h"

keel::async::Task<int> fetch_depth();

keel::async::Task<void> bounded_depth() {
  auto depth = co_await keel::async::timeout(std::chrono::seconds(1), keel::async::spawn(fetch_depth()));
  (void)depth;
}
