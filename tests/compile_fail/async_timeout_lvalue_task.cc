// Must not compile: timeout() given a Task lvalue (timeout destroys the task
// when the deadline comes first, so it must own it). Expected: the timeout
// static_assert, naming the task type.
#include <chrono>

#include "async/task.h"
#include "async/timer.h"

keel::async::Task<int> fetch_depth();

keel::async::Task<int> bounded_depth() {
  keel::async::Task<int> task = fetch_depth();
  auto depth = co_await keel::async::timeout(std::chrono::seconds(1), task);
  co_return depth.value_or(0);
}
