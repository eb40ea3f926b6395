// Task<T>: laziness, results, exceptions, ownership of the frame, and the
// invariant that awaiting keeps the native stack bounded (a chain of
// 100,000 nested awaits and a loop of 1,000,000 ready awaits run in every
// build: this file is also compiled at -O0 and under the sanitizers).
#include "async/task.h"

#include <gtest/gtest.h>

#include <coroutine>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

using keel::async::Task;
using keel::async::internal::run_to_completion;

Task<int> answer() { co_return 42; }

Task<int> twice(int x) {
  const int once = co_await answer();
  co_return once * 0 + x * 2;
}

TEST(Task, AwaitingATaskGivesItsResult) { EXPECT_EQ(run_to_completion(twice(21)), 42); }

TEST(Task, IsLazyNothingRunsUntilItIsAwaited) {
  int runs = 0;
  auto count = [](int& n) -> Task<void> {
    ++n;
    co_return;
  };
  Task<void> task = count(runs);
  EXPECT_EQ(runs, 0);
  EXPECT_FALSE(task.done());
  run_to_completion(std::move(task));
  EXPECT_EQ(runs, 1);
}

Task<std::unique_ptr<std::string>> make_name() { co_return std::make_unique<std::string>("keel"); }

TEST(Task, AMoveOnlyResultIsMovedToTheAwaiter) {
  auto outer = []() -> Task<std::size_t> {
    std::unique_ptr<std::string> name = co_await make_name();
    co_return name->size();
  };
  EXPECT_EQ(run_to_completion(outer()), 4u);
}

Task<int> fails(int depth) {
  if (depth == 0) throw std::runtime_error("no quote");
  co_return co_await fails(depth - 1);
}

TEST(Task, AnExceptionPropagatesThroughEveryAwaiter) {
  try {
    run_to_completion(fails(10));
    FAIL() << "the exception was lost";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "no quote");
  }
}

TEST(Task, AnAwaiterMayCatchAndCarryOn) {
  auto recovers = []() -> Task<int> {
    try {
      co_return co_await fails(3);
    } catch (const std::runtime_error&) {
      co_return -1;
    }
  };
  EXPECT_EQ(run_to_completion(recovers()), -1);
}

// Counts live instances: a frame's locals must be destroyed exactly once.
struct Guard {
  explicit Guard(int& live) : live(&live) { ++live; }
  Guard(const Guard&) = delete;
  ~Guard() { --*live; }
  int* live;
};

TEST(Task, DestroyingATaskThatNeverRanDestroysItsArgumentsWithoutRunningIt) {
  int live = 0;
  bool ran = false;
  {
    auto body = [](std::shared_ptr<Guard> /*held by the frame*/, bool& ran) -> Task<void> {
      ran = true;
      co_return;
    };
    Task<void> task = body(std::make_shared<Guard>(live), ran);
    EXPECT_EQ(live, 1) << "the frame holds its argument";
  }
  EXPECT_EQ(live, 0);
  EXPECT_FALSE(ran);
}

TEST(Task, ATaskSuspendedOutsideItsChainIsReportedAndItsLocalsAreDestroyedWithIt) {
  int live = 0;
  auto waits_forever = [](int& live) -> Task<int> {
    Guard guard(live);
    co_await std::suspend_always{};  // nothing will resume it
    co_return 1;
  };
  EXPECT_THROW(run_to_completion(waits_forever(live)), std::logic_error);
  EXPECT_EQ(live, 0) << "the frame was destroyed at its suspension point, running the guard's destructor";
}

TEST(Task, AMovedFromTaskIsEmptyAndTheFrameHasOneOwner) {
  Task<int> a = answer();
  Task<int> b = std::move(a);
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): the moved-from state is the point
  EXPECT_TRUE(b);
  Task<int> c;
  c = std::move(b);
  EXPECT_EQ(run_to_completion(std::move(c)), 42);
}

// --- Bounded stack ---------------------------------------------------------

Task<std::uint64_t> nested(std::uint64_t depth) {
  if (depth == 0) co_return 0;
  co_return 1 + co_await nested(depth - 1);
}

TEST(Task, AChainOf100000NestedAwaitsRunsInConstantStack) {
  EXPECT_EQ(run_to_completion(nested(100'000)), 100'000u);
}

Task<std::uint64_t> one() { co_return 1; }

TEST(Task, ALoopOfAMillionAwaitsOnTasksThatFinishAtOnceRunsInConstantStack) {
  auto loop = []() -> Task<std::uint64_t> {
    std::uint64_t sum = 0;
    for (int i = 0; i < 1'000'000; ++i) sum += co_await one();
    co_return sum;
  };
  EXPECT_EQ(run_to_completion(loop()), 1'000'000u);
}

TEST(Task, ExceptionsFromTheBottomOfADeepChainReachTheTop) {
  auto deep = [](auto& self, int depth) -> Task<int> {
    if (depth == 0) throw std::out_of_range("bottom");
    co_return co_await self(self, depth - 1);
  };
  EXPECT_THROW(run_to_completion(deep(deep, 50'000)), std::out_of_range);
}

}  // namespace
