// Runtime, spawn, JoinHandle, yield_now, with_world and Spawner: tasks run
// on the World's thread in FIFO order, results and exceptions reach the
// awaiter, aborted and dropped tasks are destroyed at their suspension
// point, and the runtime destroys what is left when it goes.
#include "async/runtime.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "async/join_handle.h"
#include "async/spawner.h"
#include "async/task.h"
#include "async/waker.h"
#include "rt/error.h"
#include "rt/world.h"
#include "tests/async/park.h"

namespace {

using keel::World;
using keel::WorldBuilder;
using keel::async::JoinHandle;
using keel::async::Runtime;
using keel::async::Task;
using keel::async::Waker;
using keel_test::Park;

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

// A second wake through the waker of a wait the task already left must not
// resume it from the wait it is in now.
TEST(Runtime, AWakerEndsOnlyTheWaitItWasMadeFor) {
  World world = empty_world();
  Runtime rt(world);
  Waker first;
  Waker second;
  int stage = 0;
  auto parker = [](Waker* a, Waker* b, int* s) -> Task<void> {
    co_await Park{a};
    *s = 1;
    co_await Park{b};
    *s = 2;
  };
  auto main = [&]() -> Task<int> {
    JoinHandle<void> h = keel::async::spawn(parker(&first, &second, &stage));
    co_await keel::async::yield_now();
    Waker stale = first;
    first.wake();
    first.wake();  // the same wait, woken twice: one resumption
    co_await keel::async::yield_now();
    EXPECT_EQ(stage, 1);
    stale.wake();  // a wait the task left
    co_await keel::async::yield_now();
    co_await keel::async::yield_now();
    EXPECT_EQ(stage, 1);
    EXPECT_FALSE(stale == second);
    second.wake();
    co_await h;
    co_return stage;
  };
  EXPECT_EQ(rt.block_on(main()), 2);
}

TEST(Runtime, AbortOfATaskWaitingOnAJoinAbortsTheTaskItJoins) {
  World world = empty_world();
  Runtime rt(world);
  int destroyed = 0;
  Waker parked;
  auto inner = [](int* d, Waker* w) -> Task<int> {
    Counted guard(d);
    co_await Park{w};
    co_return 1;
  };
  auto outer = [&](int* d) -> Task<int> {
    Counted guard(d);
    co_return co_await keel::async::spawn(inner(d, &parked));
  };
  auto main = [&]() -> Task<void> {
    JoinHandle<int> h = keel::async::spawn(outer(&destroyed));
    co_await keel::async::yield_now();  // outer spawns inner and joins it
    co_await keel::async::yield_now();  // inner parks
    EXPECT_EQ(rt.tasks(), 3u);
    h.abort();
    EXPECT_EQ(destroyed, 2);  // outer's frame, and with its handle, inner
  };
  rt.block_on(main());
  EXPECT_EQ(rt.tasks(), 0u);
}

TEST(Runtime, AbortDestroysEveryFrameOfTheAwaitChain) {
  World world = empty_world();
  Runtime rt(world);
  int destroyed = 0;
  Waker parked;
  auto leaf = [](int* d, Waker* w) -> Task<int> {
    Counted guard(d);
    co_await Park{w};
    co_return 1;
  };
  auto middle = [&](int* d) -> Task<int> {
    Counted guard(d);
    co_return co_await leaf(d, &parked);
  };
  auto top = [&](int* d) -> Task<int> {
    Counted guard(d);
    co_return co_await middle(d);
  };
  auto main = [&]() -> Task<void> {
    JoinHandle<int> h = keel::async::spawn(top(&destroyed));
    co_await keel::async::yield_now();
    h.abort();
  };
  rt.block_on(main());
  EXPECT_EQ(destroyed, 3);
  parked.wake();  // no-op: the task is gone
}

TEST(Runtime, AbortOfAWokenTaskNotYetResumedSkipsItsTurn) {
  World world = empty_world();
  Runtime rt(world);
  Waker parked;
  int resumed = 0;
  auto sleeper = [](Waker* w, int* r) -> Task<void> {
    co_await Park{w};
    ++*r;
  };
  auto main = [&]() -> Task<void> {
    JoinHandle<void> h = keel::async::spawn(sleeper(&parked, &resumed));
    co_await keel::async::yield_now();
    parked.wake();  // queued
    h.abort();      // destroyed before its turn
    co_await keel::async::yield_now();
  };
  rt.block_on(main());
  EXPECT_EQ(resumed, 0);
  EXPECT_EQ(rt.tasks(), 0u);
}

TEST(Runtime, ATaskThatAbortsItselfEndsAtItsNextSuspension) {
  World world = empty_world();
  Runtime rt(world);
  int destroyed = 0;
  int after = 0;
  JoinHandle<void> self;
  auto task = [&](int* d) -> Task<void> {
    Counted guard(d);
    self.abort();  // running: deferred
    ++after;       // still runs
    co_await keel::async::yield_now();
    ++after;  // never
  };
  auto main = [&]() -> Task<void> {
    self = keel::async::spawn(task(&destroyed));
    co_await keel::async::yield_now();
    co_await keel::async::yield_now();
    EXPECT_TRUE(self.is_finished());
    EXPECT_THROW(co_await self, keel::async::TaskAborted);
  };
  rt.block_on(main());
  EXPECT_EQ(destroyed, 1);
  EXPECT_EQ(after, 1);
}

TEST(Runtime, DetachedTasksFinishAfterTheirSpawnerIsGone) {
  World world = empty_world();
  Runtime rt(world);
  Waker parked;
  int finished = 0;
  auto worker = [](Waker* w, int* f) -> Task<void> {
    co_await Park{w};
    ++*f;
  };
  auto spawner = [&]() -> Task<void> {
    keel::async::spawn(worker(&parked, &finished)).detach();
    co_return;
  };
  auto main = [&]() -> Task<void> {
    co_await keel::async::spawn(spawner());
    co_await keel::async::yield_now();
    EXPECT_EQ(finished, 0);
    parked.wake();
    co_await keel::async::yield_now();
  };
  rt.block_on(main());
  EXPECT_EQ(finished, 1);
  EXPECT_EQ(rt.tasks(), 0u);
}

TEST(Runtime, AnExceptionNobodyAwaitedGoesToOnTaskErrorWhenItsHandleIsDropped) {
  World world = empty_world();
  int errors = 0;
  keel::async::RuntimeOptions options;
  options.on_task_error = [&](std::exception_ptr) { ++errors; };
  Runtime rt(world, options);
  auto fails = []() -> Task<int> {
    throw std::runtime_error("rejected");
    co_return 0;
  };
  auto main = [&]() -> Task<void> {
    JoinHandle<int> h = keel::async::spawn(fails());
    co_await keel::async::yield_now();
    EXPECT_TRUE(h.is_finished());
  };  // h dropped here, finished with an exception nobody took
  rt.block_on(main());
  EXPECT_EQ(errors, 1);
}

TEST(Runtime, ATaskThatKeepsYieldingDoesNotStarveTheOthers) {
  World world = empty_world();
  keel::async::RuntimeOptions options;
  options.tasks_per_turn = 4;
  Runtime rt(world, options);
  bool stop = false;
  long spins = 0;
  auto spinner = [](bool* s, long* n) -> Task<void> {
    while (!*s) {
      ++*n;
      co_await keel::async::yield_now();
    }
  };
  auto stopper = [](bool* s) -> Task<void> {
    *s = true;
    co_return;
  };
  auto main = [&]() -> Task<void> {
    JoinHandle<void> spin = keel::async::spawn(spinner(&stop, &spins));
    co_await keel::async::yield_now();
    co_await keel::async::yield_now();
    co_await keel::async::spawn(stopper(&stop));
    co_await spin;
  };
  rt.block_on(main());
  EXPECT_TRUE(stop);
  EXPECT_LT(spins, 10);
}

TEST(Runtime, AMillionTasksThroughABoundedArenaCountTheirHeapFallbacks) {
  World world = empty_world();
  keel::async::RuntimeOptions options;
  options.arena = {{.slot_bytes = 256, .slots = 1000}};
  Runtime rt(world, options);
  long ran = 0;
  auto job = [](long* r) -> Task<void> {
    ++*r;
    co_return;
  };
  auto main = [&]() -> Task<void> {
    constexpr int kWave = 2000;  // twice the slots: about half of every wave falls back
    for (int wave = 0; wave < 500; ++wave) {
      for (int i = 0; i < kWave; ++i) keel::async::spawn(job(&ran)).detach();
      co_await keel::async::yield_now();  // every task of the wave runs and frees its frame
    }
  };
  rt.block_on(main());
  EXPECT_EQ(ran, 1'000'000);
  const keel::async::ArenaStats stats = rt.arena_stats();
  ASSERT_EQ(stats.classes.size(), 1u);
  EXPECT_EQ(stats.classes[0].in_use, 0u);
  EXPECT_GE(stats.heap_fallbacks, 500u * 1000u);   // the second half of each wave
  EXPECT_LE(stats.heap_fallbacks, 500u * 1001u);   // and the main task's slot
  EXPECT_EQ(rt.tasks(), 0u);
}

Task<long> nest(int depth) {
  if (depth == 0) co_return 0;
  co_return 1 + co_await nest(depth - 1);
}

TEST(Runtime, DeepAwaitChainsAndLongReadyLoopsRunInBoundedStack) {
  World world = empty_world();
  Runtime rt(world);
  EXPECT_EQ(rt.block_on(nest(100'000)), 100'000);
  auto loop = []() -> Task<long> {
    long sum = 0;
    for (int i = 0; i < 1'000'000; ++i) sum += co_await nest(0) + 1;
    co_return sum;
  };
  EXPECT_EQ(rt.block_on(loop()), 1'000'000);
}

TEST(Runtime, MisuseIsAnErrorThatSaysWhatToDo) {
  World world = empty_world();
  EXPECT_THROW(keel::async::spawn(answer()), std::logic_error);  // no runtime on this thread
  Runtime rt(world);
  auto nested = [&]() -> Task<void> {
    EXPECT_THROW(rt.block_on(answer()), std::logic_error);
    EXPECT_THROW(rt.tick(std::chrono::milliseconds(0)), std::logic_error);
    JoinHandle<int> h = keel::async::spawn(answer());
    EXPECT_EQ(co_await h, 42);
    EXPECT_THROW(co_await h, std::logic_error);  // empty after the join
    co_return;
  };
  rt.block_on(nested());
  EXPECT_THROW(rt.spawn(Task<int>{}), std::logic_error);
  // An awaitable that needs a runtime task, awaited from a plain coroutine chain.
  Waker w;
  auto outside = [&]() -> Task<void> { co_await Park{&w}; };
  {
    keel::async::RuntimeOptions bad;
    bad.tasks_per_turn = 0;
    EXPECT_THROW(Runtime(world, bad), keel::ConfigError);
  }
  EXPECT_THROW(keel::async::internal::run_to_completion(outside()), std::logic_error);
}

TEST(Runtime, TasksSpawnOnTheRuntimeWhoseLoopRunsThemWhenTwoShareAThread) {
  World first_world = empty_world();
  World second_world = empty_world();
  Runtime first(first_world);
  Runtime second(second_world);  // the thread's runtime outside any loop
  EXPECT_EQ(Runtime::current(), &second);
  auto main = [&]() -> Task<int> {
    EXPECT_EQ(Runtime::current(), &first);
    JoinHandle<int> h = keel::async::spawn(answer());
    EXPECT_EQ(first.tasks(), 2u);
    EXPECT_EQ(second.tasks(), 0u);
    co_return co_await h;
  };
  EXPECT_EQ(first.block_on(main()), 42);
  EXPECT_EQ(Runtime::current(), &second);
}

// A task awaiting a task it just spawned lets it run at once and, while
// its turn's budget of direct joins lasts, continues as soon as it ends;
// past the budget it is queued, so a loop of spawn-and-join cannot keep
// the other ready tasks from running.
TEST(Runtime, ALoopOfSpawnAndJoinLetsTheOtherTasksRun) {
  World world = empty_world();
  Runtime rt(world);
  bool other_ran = false;
  int seen_at = -1;
  auto other = [](bool* ran) -> Task<void> {
    *ran = true;
    co_return;
  };
  auto main = [&]() -> Task<long> {
    JoinHandle<void> o = keel::async::spawn(other(&other_ran));
    long sum = 0;
    for (int i = 0; i < 10'000; ++i) {
      sum += co_await keel::async::spawn(answer());
      if (other_ran && seen_at < 0) seen_at = i;
    }
    co_await o;
    co_return sum;
  };
  EXPECT_EQ(rt.block_on(main()), 420'000);
  EXPECT_GE(seen_at, 0);
  EXPECT_LE(seen_at, 2 * static_cast<int>(keel::async::internal::Scheduler::kDirectJoins));
  EXPECT_EQ(rt.tasks(), 0u);
}

TEST(Runtime, AJoinedTaskThatWaitsResumesItsJoinerWithItsResult) {
  World world = empty_world();
  Runtime rt(world);
  Waker parked;
  auto inner = [](Waker* w) -> Task<int> {
    co_await Park{w};
    co_return 7;
  };
  auto outer = [&]() -> Task<int> { co_return 1 + co_await keel::async::spawn(inner(&parked)); };
  auto main = [&]() -> Task<int> {
    JoinHandle<int> h = keel::async::spawn(outer());
    co_await keel::async::yield_now();  // outer spawns inner, which runs at once and parks
    EXPECT_FALSE(h.is_finished());
    parked.wake();
    co_return co_await h;
  };
  EXPECT_EQ(rt.block_on(main()), 8);
  EXPECT_EQ(rt.tasks(), 0u);
}

TEST(Runtime, DetachingAHandleAnotherTaskAwaitsWakesItWithAnError) {
  World world = empty_world();
  Runtime rt(world);
  Waker parked;
  JoinHandle<int> shared;
  auto sleeper = [](Waker* w) -> Task<int> {
    co_await Park{w};
    co_return 1;
  };
  auto joiner = [&]() -> Task<bool> {
    try {
      co_await shared;
    } catch (const std::logic_error&) {
      co_return true;
    }
    co_return false;
  };
  auto main = [&]() -> Task<bool> {
    shared = keel::async::spawn(sleeper(&parked));
    JoinHandle<bool> j = keel::async::spawn(joiner());
    co_await keel::async::yield_now();  // the sleeper parks, the joiner waits on it
    shared.detach();
    const bool woken_with_error = co_await j;
    parked.wake();  // the detached sleeper ends on its own
    co_await keel::async::yield_now();
    co_return woken_with_error;
  };
  EXPECT_TRUE(rt.block_on(main()));
  EXPECT_EQ(rt.tasks(), 0u);
}

TEST(Runtime, SpawnerIsUnboundWithoutARuntime) {
  WorldBuilder wb;
  wb.install(keel::async::AsyncPlugin{});
  World world = std::move(wb).build();
  auto& spawner = world.resource<keel::async::Spawner>();
  EXPECT_THROW((void)spawner.spawn(answer()), keel::ConfigError);
  {
    Runtime rt(world);
    EXPECT_THROW(Runtime{world}, keel::ConfigError);  // one runtime per World's Spawner
  }
  EXPECT_FALSE(spawner.bound());
}

}  // namespace
