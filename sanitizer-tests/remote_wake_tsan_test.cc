// Pattern 27 (docs/soundness.md): wakes from other threads. Threads that
// run no runtime wake parked tasks through their Wakers while the loop
// resumes them and parks them again: each wake raises the record's
// remote_epoch and, on its 0→n transition, links the record into the
// runtime's lock-free queue and interrupts the ring; the loop collects
// the queue with one exchange. Under TSan any unsynchronised access of the
// record or the queue shows up here; the counts check that no wake of a
// current wait is lost.
#include <gtest/gtest.h>

#include <atomic>
#include <coroutine>
#include <thread>
#include <vector>

#include "async/join_handle.h"
#include "async/runtime.h"
#include "async/task.h"
#include "async/waker.h"
#include "rt/world.h"

namespace {

using keel::async::Runtime;
using keel::async::Task;
using keel::async::Waker;

// A waker published for other threads: the loop stores it, a thread takes it.
struct Mailbox {
  std::atomic<bool> full{false};
  Waker waker;
};

struct ParkIn {
  Mailbox* box;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    box->waker = Waker::for_current_task(h, "ParkIn");
    box->full.store(true, std::memory_order_release);
  }
  void await_resume() const noexcept {}
};

Task<void> parks(Mailbox* box, int rounds, int* resumed) {
  for (int i = 0; i < rounds; ++i) {
    co_await ParkIn{box};
    ++*resumed;
  }
}

TEST(RemoteWake, EveryWakeOfACurrentWaitFromAnotherThreadResumesTheTaskOnce) {
  constexpr int kTasks = 4;
  constexpr int kRounds = 2000;
  keel::World world = keel::WorldBuilder().build();
  Runtime rt(world);
  std::vector<Mailbox> boxes(kTasks);
  std::vector<int> resumed(kTasks, 0);
  std::atomic<bool> done{false};
  std::vector<std::thread> wakers;
  for (int t = 0; t < kTasks; ++t) {
    wakers.emplace_back([&, t] {
      Mailbox& box = boxes[t];
      while (!done.load(std::memory_order_acquire)) {
        if (!box.full.load(std::memory_order_acquire)) {
          std::this_thread::yield();
          continue;
        }
        Waker w = box.waker;
        box.full.store(false, std::memory_order_relaxed);
        w.wake();
        w.wake();  // a second wake of the same wait: coalesced or stale
      }
    });
  }
  auto main = [&]() -> Task<void> {
    std::vector<keel::async::JoinHandle<void>> handles;
    for (int t = 0; t < kTasks; ++t) handles.push_back(keel::async::spawn(parks(&boxes[t], kRounds, &resumed[t])));
    for (auto& h : handles) co_await h;
  };
  rt.block_on(main());
  done.store(true, std::memory_order_release);
  for (std::thread& t : wakers) t.join();
  for (int t = 0; t < kTasks; ++t) EXPECT_EQ(resumed[t], kRounds);
}

}  // namespace
