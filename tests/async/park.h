// keel_test::Park: an awaitable that suspends the task until the test wakes
// it through the Waker it leaves in a slot — the simplest "waits on
// something outside the task" for tests of the async layer (tests/async,
// sanitizer-tests). Park records each resumption, so a test can tell a
// task resumed once from one resumed twice.
//
//   keel::async::Waker parked;
//   int resumed = 0;
//   co_await keel_test::Park{&parked, &resumed};   // in the task
//   parked.wake();                                // from the test, a handler, another thread
#pragma once

#include <coroutine>

#include "async/waker.h"

namespace keel_test {

struct Park {
  keel::async::Waker* slot;
  int* resumed = nullptr;  // counts resumptions when set

  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) { *slot = keel::async::Waker::for_current_task(h, "Park"); }
  void await_resume() const noexcept {
    if (resumed != nullptr) ++*resumed;
  }
};

}  // namespace keel_test
