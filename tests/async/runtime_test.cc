// Runtime, spawn, JoinHandle, yield_now, with_world and Spawner: tasks run
// on the World's thread in FIFO order, results and exceptions reach the
// awaiter, aborted and dropped tasks are destroyed at their suspension
// point, and the runtime destroys what is left when it goes.
#include "async/runtime.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "async/join_handle.h"
#include "async/spawner.h"
#include "async/task.h"
#include "async/waker.h"
#include "rt/world.h"

namespace {

using keel::World;
using keel::WorldBuilder;
using keel::async::JoinHandle;
using keel::async::Runtime;
using keel::async::Task;
using keel::async::Waker;

World empty_world() { return WorldBuilder().build(); }

Task<int> answer() { co_return 42; }

TEST(Runtime, BlockOnGivesTheTaskResult) {
  World world = empty_world();
  Runtime rt(world);
  EXPECT_EQ(rt.block_on(answer()), 42);
  EXPECT_EQ(rt.tasks(), 0u);
}

TEST(Runtime, BlockOnRethrowsTheTaskException) {
  World world = empty_world();
  Runtime rt(world);
  auto fails = []() -> Task<int> {
    throw std::runtime_error("no book");
    co_return 0;
  };
  EXPECT_THROW(rt.block_on(fails()), std::runtime_error);
  EXPECT_EQ(rt.tasks(), 0u);
}

TEST(Runtime, SpawnedTasksJoinWithTheirResults) {
  World world = empty_world();
  Runtime rt(world);
  auto main = []() -> Task<int> {
    JoinHandle<int> a = keel::async::spawn(answer());
    JoinHandle<int> b = keel::async::spawn(answer());
    const int first = co_await a;
    const int second = co_await std::move(b);
    const int third = co_await keel::async::spawn(answer());
    co_return first + second + third;
  };
  EXPECT_EQ(rt.block_on(main()), 126);
  EXPECT_EQ(rt.tasks(), 0u);
}

TEST(Runtime, YieldNowRunsTheOtherReadyTasksFirstInFifoOrder) {
  World world = empty_world();
  Runtime rt(world);
  std::vector<std::string> trace;
  auto step = [](std::vector<std::string>& out, std::string name) -> Task<void> {
    for (int i = 0; i < 3; ++i) {
      out.push_back(name + std::to_string(i));
      co_await keel::async::yield_now();
    }
  };
  auto main = [&]() -> Task<void> {
    JoinHandle<void> a = keel::async::spawn(step(trace, "a"));
    JoinHandle<void> b = keel::async::spawn(step(trace, "b"));
    co_await a;
    co_await b;
  };
  rt.block_on(main());
  EXPECT_EQ(trace, (std::vector<std::string>{"a0", "b0", "a1", "b1", "a2", "b2"}));
}

struct Counted {
  int* destroyed;
  explicit Counted(int* d) : destroyed(d) {}
  Counted(const Counted&) = delete;
  ~Counted() { ++*destroyed; }
};

// Parks until woken through the Waker stored in `slot`.
struct Park {
  Waker* slot;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) { *slot = Waker::for_current_task(h, "Park"); }
  void await_resume() const noexcept {}
};

TEST(Runtime, AbortDestroysTheTaskAtItsSuspensionPoint) {
  World world = empty_world();
  Runtime rt(world);
  int destroyed = 0;
  Waker parked;
  auto sleeper = [](int* d, Waker* w) -> Task<int> {
    Counted guard(d);
    co_await Park{w};
    co_return 1;
  };
  auto main = [&]() -> Task<bool> {
    JoinHandle<int> h = keel::async::spawn(sleeper(&destroyed, &parked));
    co_await keel::async::yield_now();  // the sleeper parks
    EXPECT_FALSE(h.is_finished());
    h.abort();
    EXPECT_TRUE(h.is_finished());
    EXPECT_EQ(destroyed, 1);
    try {
      co_await h;
    } catch (const keel::async::TaskAborted&) {
      co_return true;
    }
    co_return false;
  };
  EXPECT_TRUE(rt.block_on(main()));
  parked.wake();  // the task is gone: a no-op
  EXPECT_EQ(rt.tasks(), 0u);
}

TEST(Runtime, DroppingAnUnawaitedHandleAbortsItsTask) {
  World world = empty_world();
  Runtime rt(world);
  int destroyed = 0;
  Waker parked;
  auto sleeper = [](int* d, Waker* w) -> Task<void> {
    Counted guard(d);
    co_await Park{w};
  };
  auto main = [&]() -> Task<void> {
    { JoinHandle<void> h = keel::async::spawn(sleeper(&destroyed, &parked)); co_await keel::async::yield_now(); }
    co_return;
  };
  rt.block_on(main());
  EXPECT_EQ(destroyed, 1);
  EXPECT_EQ(rt.tasks(), 0u);
}

TEST(Runtime, DetachedTaskRunsToItsEndAndItsErrorGoesToOnTaskError) {
  World world = empty_world();
  std::vector<std::string> errors;
  keel::async::RuntimeOptions options;
  options.on_task_error = [&](std::exception_ptr e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      errors.push_back(x.what());
    }
  };
  Runtime rt(world, options);
  Waker parked;
  int finished = 0;
  auto worker = [](Waker* w, int* f) -> Task<void> {
    co_await Park{w};
    ++*f;
    throw std::runtime_error("feed lost");
  };
  auto main = [&]() -> Task<void> {
    keel::async::spawn(worker(&parked, &finished)).detach();
    co_await keel::async::yield_now();
    parked.wake();
    co_await keel::async::yield_now();
  };
  rt.block_on(main());
  EXPECT_EQ(finished, 1);
  EXPECT_EQ(errors, std::vector<std::string>{"feed lost"});
  EXPECT_EQ(rt.tasks(), 0u);
}

TEST(Runtime, AWakeFromAnotherThreadResumesTheTask) {
  World world = empty_world();
  Runtime rt(world);
  Waker parked;
  std::atomic<bool> registered{false};
  auto main = [&]() -> Task<int> {
    struct ParkAndSignal {
      Waker* slot;
      std::atomic<bool>* flag;
      bool await_ready() const noexcept { return false; }
      void await_suspend(std::coroutine_handle<> h) {
        *slot = Waker::for_current_task(h);
        flag->store(true, std::memory_order_release);
      }
      void await_resume() const noexcept {}
    };
    co_await ParkAndSignal{&parked, &registered};
    co_return 7;
  };
  std::thread waker([&] {
    while (!registered.load(std::memory_order_acquire)) std::this_thread::yield();
    parked.wake();
  });
  EXPECT_EQ(rt.block_on(main()), 7);
  waker.join();
}

TEST(Runtime, DestroyingTheRuntimeDestroysRemainingTasks) {
  World world = empty_world();
  int destroyed = 0;
  Waker parked;
  {
    Runtime rt(world);
    auto sleeper = [](int* d, Waker* w) -> Task<void> {
      Counted guard(d);
      co_await Park{w};
    };
    auto main = [&]() -> Task<void> {
      keel::async::spawn(sleeper(&destroyed, &parked)).detach();
      co_await keel::async::yield_now();
    };
    rt.block_on(main());
    EXPECT_EQ(destroyed, 0);
    EXPECT_EQ(rt.tasks(), 1u);
  }
  EXPECT_EQ(destroyed, 1);
}

TEST(Runtime, SpawnerLetsAHandlerStartATask) {
  WorldBuilder wb;
  wb.install(keel::async::AsyncPlugin{});
  World world = std::move(wb).build();
  EXPECT_FALSE(world.resource<keel::async::Spawner>().bound());
  Runtime rt(world);
  EXPECT_TRUE(world.resource<keel::async::Spawner>().bound());
  int ran = 0;
  auto job = [](int* r) -> Task<void> {
    ++*r;
    co_return;
  };
  auto main = [&]() -> Task<int> {
    co_await keel::async::with_world(
        [&](World& w) { w.resource<keel::async::Spawner>().spawn(job(&ran)).detach(); });
    co_await keel::async::yield_now();
    co_return ran;
  };
  EXPECT_EQ(rt.block_on(main()), 1);
}

}  // namespace
