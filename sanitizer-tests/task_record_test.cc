// Pattern 26 (docs/soundness.md): task records and wait epochs. A task's
// frame is destroyed exactly once — at its end, by abort, by a dropped
// handle or at runtime shutdown — and never resumed afterwards: the run
// queue's entry and every waker of the task carry an epoch the record has
// left behind, and records are reused only for new tasks with higher
// epochs. Under ASan, a resume of a destroyed frame or a second destroy
// shows up here.
#include <gtest/gtest.h>

#include <coroutine>
#include <memory>
#include <vector>

#include "async/join_handle.h"
#include "async/runtime.h"
#include "async/task.h"
#include "async/waker.h"
#include "rt/world.h"
#include "tests/async/park.h"

namespace {

using keel::async::JoinHandle;
using keel::async::Runtime;
using keel::async::Task;
using keel::async::Waker;
using keel_test::Park;


Task<int> parked(std::shared_ptr<int> held, Waker* slot) {
  co_await Park{slot};
  co_return *held;
}

TEST(TaskRecords, WakersOfAbortedTasksAreInertEvenWhenTheirRecordsRunNewTasks) {
  keel::World world = keel::WorldBuilder().build();
  Runtime rt(world);
  auto main = [&]() -> Task<int> {
    std::vector<Waker> stale(64);
    for (int round = 0; round < 50; ++round) {
      std::vector<JoinHandle<int>> handles;
      std::vector<Waker> fresh(64);
      for (std::size_t i = 0; i < fresh.size(); ++i) handles.push_back(keel::async::spawn(parked(std::make_shared<int>(1), &fresh[i])));
      co_await keel::async::yield_now();  // all park; their records reuse the last round's
      for (Waker& w : stale) w.wake();    // tasks of the last round, aborted: nothing runs
      for (std::size_t i = 0; i < handles.size(); i += 2) handles[i].abort();
      for (std::size_t i = 1; i < handles.size(); i += 2) fresh[i].wake();
      for (std::size_t i = 0; i < handles.size(); i += 2) fresh[i].wake();  // aborted: inert
      co_await keel::async::yield_now();
      for (std::size_t i = 1; i < handles.size(); i += 2) {
        if (!handles[i].is_finished()) co_return -1;
        if (co_await handles[i] != 1) co_return -2;
      }
      stale = fresh;
    }
    co_return 0;
  };
  EXPECT_EQ(rt.block_on(main()), 0);
  EXPECT_EQ(rt.tasks(), 0u);
}

TEST(TaskRecords, AWokenTaskDestroyedBeforeItsTurnIsNeverResumed) {
  keel::World world = keel::WorldBuilder().build();
  Runtime rt(world);
  Waker w;
  auto main = [&]() -> Task<void> {
    for (int i = 0; i < 1000; ++i) {
      JoinHandle<int> h = keel::async::spawn(parked(std::make_shared<int>(i), &w));
      co_await keel::async::yield_now();
      w.wake();  // queued...
    }            // ...and destroyed with its handle before the runtime reaches it
    co_await keel::async::yield_now();
  };
  rt.block_on(main());
  EXPECT_EQ(rt.tasks(), 0u);
}

TEST(TaskRecords, ShutdownDestroysParkedQueuedAndFinishedTasksOnce) {
  keel::World world = keel::WorldBuilder().build();
  std::vector<Waker> wakers(100);
  JoinHandle<int> finished_unjoined;
  {
    Runtime rt(world);
    auto main = [&]() -> Task<void> {
      for (Waker& w : wakers) keel::async::spawn(parked(std::make_shared<int>(2), &w)).detach();
      finished_unjoined = keel::async::spawn(parked(std::make_shared<int>(3), &wakers[0]));
      co_await keel::async::yield_now();
      for (std::size_t i = 0; i < wakers.size(); i += 3) wakers[i].wake();  // some queued at shutdown
      co_return;
    };
    rt.block_on(main());
    finished_unjoined = {};  // a handle must not outlive its runtime
  }
}

}  // namespace
