// Pattern 25 (docs/soundness.md): coroutine handles held by the trampoline
// and by awaiting tasks. A handle is resumed only while its frame lives:
// a task owns its frame, an awaiting frame owns the awaited task, and the
// trampoline holds a handle only between a hand-over and the resume that
// follows. Under ASan a frame destroyed while a handle to it is still
// used, or destroyed twice, shows up here.
#include <gtest/gtest.h>

#include <coroutine>
#include <memory>
#include <stdexcept>

#include "async/internal/frame_arena.h"
#include "async/task.h"

namespace {

using keel::async::Task;
using keel::async::internal::FrameArena;
using keel::async::internal::run_to_completion;

Task<int> stuck(std::shared_ptr<int> held) {
  co_await std::suspend_always{};  // nothing resumes it
  co_return *held;
}

Task<int> awaits_stuck(std::shared_ptr<int> held, int depth) {
  if (depth == 0) co_return co_await stuck(held);
  co_return co_await awaits_stuck(held, depth - 1);
}

TEST(TaskFrameSanitized, DestroyingTheTopOfASuspendedChainDestroysEveryFrameOnce) {
  auto held = std::make_shared<int>(5);
  EXPECT_THROW(run_to_completion(awaits_stuck(held, 200)), std::logic_error);
  EXPECT_EQ(held.use_count(), 1) << "every frame's copy of the argument was destroyed";
}

TEST(TaskFrameSanitized, ArenaFramesOfADestroyedChainGoBackToTheirSlots) {
  FrameArena arena({{.slot_bytes = 512, .slots = 64}});
  FrameArena::Scope use(arena);
  auto held = std::make_shared<int>(5);
  for (int round = 0; round < 10; ++round) {
    EXPECT_THROW(run_to_completion(awaits_stuck(held, 100)), std::logic_error);
  }
  EXPECT_EQ(arena.stats().classes[0].in_use, 0u);
  EXPECT_EQ(held.use_count(), 1);
}

Task<int> throws_after(int depth) {
  if (depth == 0) throw std::runtime_error("deep");
  co_return co_await throws_after(depth - 1);
}

TEST(TaskFrameSanitized, AnExceptionUnwindsAChainLongerThanTheDirectTransferBudget) {
  FrameArena arena({{.slot_bytes = 512, .slots = 16}});
  FrameArena::Scope use(arena);
  EXPECT_THROW(run_to_completion(throws_after(1000)), std::runtime_error);
  EXPECT_EQ(arena.stats().classes[0].in_use, 0u);
}

}  // namespace
