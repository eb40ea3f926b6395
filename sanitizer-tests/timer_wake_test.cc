// Pattern 34 (docs/soundness.md): timers that reach into a task — a
// sleep's timer holds the task's waker, a timeout's timer holds the frame
// that awaits it and rewrites where the task resumes. The awaiters cancel
// their timers when they are destroyed, so no timer outlives the frame it
// would resume.
//
// Frames come from the heap here (the runtime gets no arena classes), so a
// timer that fired after its frame was destroyed would resume freed memory:
// a heap-use-after-free under ASan. The tests destroy waiting frames in
// every way there is — abort at a sleep, abort at a timeout, a timeout
// ending the task that holds a sleep or another timeout — then run the loop
// past every deadline.
#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <expected>
#include <random>
#include <string>
#include <vector>

#include "async/join_handle.h"
#include "async/runtime.h"
#include "async/task.h"
#include "async/timer.h"
#include "rt/world.h"
#include "tests/rt/tracking.h"

namespace {

using namespace std::chrono_literals;
using keel::async::JoinHandle;
using keel::async::Runtime;
using keel::async::Task;
using keel::async::TimedOut;

keel::async::RuntimeOptions heap_frames() {
  keel::async::RuntimeOptions options;
  options.arena = {};  // every frame from the heap, where ASan sees it freed
  return options;
}

// Sleeps a while with a heap-owning local and counts its wake.
Task<int> sleeper(keel_test::Counts& counts, std::chrono::microseconds length) {
  keel_test::Tracked guard(counts);
  std::string payload(200, 's');
  co_await keel::async::sleep(length);
  co_return static_cast<int>(payload.size());
}

// A task that bounds a sleeper, and is itself bounded: timeouts two deep.
Task<int> bounded(keel_test::Counts& counts, std::chrono::microseconds limit, std::chrono::microseconds length) {
  std::string payload(300, 'b');
  std::expected<int, TimedOut> r = co_await keel::async::timeout(limit, sleeper(counts, length));
  co_return r.value_or(-1) + static_cast<int>(payload.size());
}

TEST(TimerWake, FramesDestroyedWhileTheirTimersArePendingAreNeverResumed) {
  keel::World world = keel::WorldBuilder().build();
  Runtime rt(world, heap_frames());
  for (unsigned seed = 0; seed < 10; ++seed) {
    std::mt19937 rng(seed);
    keel_test::Counts counts;
    auto main = [&]() -> Task<void> {
      std::vector<JoinHandle<int>> tasks;
      for (int i = 0; i < 60; ++i) {
        const auto length = std::chrono::microseconds(100 * (rng() % 30));
        const auto limit = std::chrono::microseconds(100 * (rng() % 30));
        if (i % 3 == 0) {
          tasks.push_back(keel::async::spawn(sleeper(counts, length)));
        } else {
          // The outer timeout ends `bounded` wherever it is: in its own
          // timeout, with the sleeper below it.
          tasks.push_back(keel::async::spawn([](keel_test::Counts& c, std::chrono::microseconds l,
                                                std::chrono::microseconds s) -> Task<int> {
            std::expected<int, TimedOut> r = co_await keel::async::timeout(l / 2, bounded(c, l, s));
            co_return r.value_or(-2);
          }(counts, limit, length)));
        }
      }
      co_await keel::async::yield_now();
      for (JoinHandle<int>& h : tasks) {
        if (rng() % 3 == 0) h.abort();
      }
      for (JoinHandle<int>& h : tasks) {
        if (!h.is_finished()) (void)co_await h;
      }
    };
    rt.block_on(main());
    EXPECT_EQ(counts.live, 0) << "seed " << seed;
    EXPECT_TRUE(rt.timers().empty()) << "seed " << seed;
    EXPECT_EQ(rt.tasks(), 0u);
  }
}

// The runtime goes with tasks waiting in sleeps and timeouts: it destroys
// their frames before its wheel, and each awaiter cancels its timer on a
// wheel that still exists.
TEST(TimerWake, ARuntimeDestroyedWithWaitingTasksCancelsTheirTimersFirst) {
  keel::World world = keel::WorldBuilder().build();
  keel_test::Counts counts;
  {
    Runtime rt(world, heap_frames());
    auto main = [&]() -> Task<void> {
      keel::async::spawn(sleeper(counts, std::chrono::hours(1))).detach();
      keel::async::spawn(bounded(counts, std::chrono::hours(1), std::chrono::hours(2))).detach();
      co_await keel::async::yield_now();
    };
    rt.block_on(main());
    EXPECT_EQ(rt.timers().size(), 3u);
    EXPECT_EQ(counts.live, 2);
  }
  EXPECT_EQ(counts.live, 0);
}

}  // namespace
