// A tour of keel::async: tasks, spawning and joining, detaching and
// aborting, yielding, errors, the World from a task, a hand-written
// awaitable with a Waker, and the task arena. docs/async.md quotes this
// file; the numbered comments match what it prints.
//
//   bazel run //examples/async:tour
#include <coroutine>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "async/join_handle.h"
#include "async/runtime.h"
#include "async/task.h"
#include "async/waker.h"
#include "rt/world.h"

struct Book {
  int bids = 0;
};

// 1. A task: a coroutine returning keel::async::Task<T>. Nothing runs until it is awaited or spawned.
keel::async::Task<int> depth(int levels) {
  co_await keel::async::yield_now();  // let the other ready tasks run
  co_return levels * 2;
}

keel::async::Task<int> total_depth() {
  int own = co_await depth(5);                        // awaited: runs as part of this task
  auto other = keel::async::spawn(depth(10));         // spawned: a task of its own, running beside this one
  co_return own + co_await other;                     // joined: its result (or its exception)
}

// 5. An awaitable of your own: a one-shot signal set from outside the task.
struct Signal {
  bool set = false;
  keel::async::Waker waiter;

  void raise() {
    set = true;
    waiter.wake();  // queues the task waiting on it, if any
  }
  auto wait() {
    struct Awaiter {
      Signal& signal;
      bool await_ready() const noexcept { return signal.set; }
      void await_suspend(std::coroutine_handle<> h) {
        signal.waiter = keel::async::Waker::for_current_task(h, "Signal::wait()");
      }
      void await_resume() const noexcept {}
    };
    return Awaiter{*this};
  }
};

struct Guard {
  const char* name;
  ~Guard() { std::printf("   %s: destructor ran\n", name); }
};

keel::async::Task<void> watcher(Signal& signal) {
  Guard guard{"watcher"};
  co_await signal.wait();
  std::printf("   watcher: signalled\n");
}

int main() {
  keel::WorldBuilder wb;
  wb.insert(Book{});
  keel::World world = std::move(wb).build();

  keel::async::RuntimeOptions options;
  options.on_task_error = [](std::exception_ptr error) {
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      std::printf("   on_task_error: %s\n", e.what());
    }
  };
  keel::async::Runtime rt(world, options);

  // 1. block_on runs the loop until the task ends and gives its result.
  std::printf("1. total depth %d\n", rt.block_on(total_depth()));

  // 2. Exceptions reach whoever awaits: block_on rethrows, a join rethrows.
  auto fails = []() -> keel::async::Task<int> {
    throw std::runtime_error("no such instrument");
    co_return 0;
  };
  try {
    rt.block_on(fails());
  } catch (const std::runtime_error& e) {
    std::printf("2. caught: %s\n", e.what());
  }

  // 3. A detached task runs to its end on its own; its exception goes to on_task_error.
  std::printf("3. detached:\n");
  rt.block_on([&]() -> keel::async::Task<void> {
    keel::async::spawn(fails()).detach();
    co_await keel::async::yield_now();
  }());

  // 4. abort() destroys a task where it waits, running its destructors; joining it then throws TaskAborted.
  std::printf("4. abort:\n");
  Signal never;
  rt.block_on([&]() -> keel::async::Task<void> {
    keel::async::JoinHandle<void> h = keel::async::spawn(watcher(never));
    co_await keel::async::yield_now();  // the watcher starts and waits
    h.abort();
    try {
      co_await h;
    } catch (const keel::async::TaskAborted&) {
      std::printf("   join: TaskAborted\n");
    }
  }());

  // 5. A Waker ends the wait it was made for.
  std::printf("5. signal:\n");
  Signal ready;
  rt.block_on([&]() -> keel::async::Task<void> {
    keel::async::JoinHandle<void> h = keel::async::spawn(watcher(ready));
    co_await keel::async::yield_now();
    ready.raise();
    co_await h;
  }());

  // 6. A task reaches the World through with_world.
  int bids = rt.block_on([]() -> keel::async::Task<int> {
    co_return co_await keel::async::with_world([](keel::World& w) { return ++w.resource<Book>().bids; });
  }());
  std::printf("6. bids %d\n", bids);

  // 7. Frames come from the runtime's arena.
  const keel::async::ArenaStats stats = rt.arena_stats();
  std::printf("7. arena: %zu classes, %zu frames in use, %llu heap fallbacks\n", stats.classes.size(),
              stats.classes[0].in_use, static_cast<unsigned long long>(stats.heap_fallbacks));
  return 0;
}
