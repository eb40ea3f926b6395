// Must compile: the positive control of the async_* compile-fail tests —
// a task awaited as an rvalue, a Task<void>, and with_world given a
// function of keel::World&.
#include "async/runtime.h"
#include "async/task.h"

keel::async::Task<int> answer() { co_return 42; }

keel::async::Task<void> use() {
  keel::async::Task<int> t = answer();
  int v = co_await std::move(t);
  v += co_await answer();
  v += co_await keel::async::with_world([](keel::World&) { return 1; });
  (void)v;
}
