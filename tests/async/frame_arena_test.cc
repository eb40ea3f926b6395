// FrameArena: which class a frame goes to, slot reuse, heap fallbacks and
// their count, frames that outlive their arena, and task frames drawn from
// the arena while a Scope is active.
#include "async/internal/frame_arena.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "async/task.h"

namespace {

using keel::async::Task;
using keel::async::internal::FrameArena;
using keel::async::internal::run_to_completion;

std::size_t in_use(const FrameArena& arena, std::size_t klass) { return arena.stats().classes.at(klass).in_use; }

TEST(FrameArena, AFrameGoesToTheSmallestClassThatHoldsIt) {
  FrameArena arena({{.slot_bytes = 1024, .slots = 2}, {.slot_bytes = 128, .slots = 2}});
  FrameArena::Scope use(arena);
  ASSERT_EQ(arena.stats().classes.size(), 2u);
  EXPECT_EQ(arena.stats().classes[0].slot_bytes, 128u) << "classes are sorted by size";
  void* small = FrameArena::allocate(100);
  void* large = FrameArena::allocate(129);
  EXPECT_EQ(in_use(arena, 0), 1u);
  EXPECT_EQ(in_use(arena, 1), 1u);
  std::memset(small, 0xab, 100);  // the whole block is usable
  std::memset(large, 0xcd, 129);
  FrameArena::deallocate(small);
  FrameArena::deallocate(large);
  EXPECT_EQ(in_use(arena, 0), 0u);
  EXPECT_EQ(in_use(arena, 1), 0u);
  EXPECT_EQ(arena.stats().heap_fallbacks, 0u);
}

TEST(FrameArena, AFreedSlotIsReusedFirst) {
  FrameArena arena({{.slot_bytes = 64, .slots = 4}});
  FrameArena::Scope use(arena);
  void* a = FrameArena::allocate(64);
  void* b = FrameArena::allocate(64);
  FrameArena::deallocate(a);
  EXPECT_EQ(FrameArena::allocate(64), a);
  FrameArena::deallocate(a);
  FrameArena::deallocate(b);
}

TEST(FrameArena, BlocksAreAlignedForAnyFrame) {
  FrameArena arena({{.slot_bytes = 40, .slots = 8}});
  FrameArena::Scope use(arena);
  std::vector<void*> blocks;
  for (int i = 0; i < 8; ++i) blocks.push_back(FrameArena::allocate(40));
  blocks.push_back(FrameArena::allocate(4000));  // the heap
  for (void* block : blocks) {
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(block) % __STDCPP_DEFAULT_NEW_ALIGNMENT__, 0u);
    FrameArena::deallocate(block);
  }
}

TEST(FrameArena, FramesTooLargeOrBeyondAFullClassComeFromTheHeapAndAreCounted) {
  FrameArena arena({{.slot_bytes = 128, .slots = 1}, {.slot_bytes = 256, .slots = 1}});
  FrameArena::Scope use(arena);
  void* first = FrameArena::allocate(100);
  void* second = FrameArena::allocate(100);  // class full: the heap, not the larger class
  void* huge = FrameArena::allocate(10'000);
  EXPECT_EQ(arena.stats().heap_fallbacks, 2u);
  EXPECT_EQ(in_use(arena, 1), 0u);
  FrameArena::deallocate(second);
  FrameArena::deallocate(huge);
  FrameArena::deallocate(first);
  EXPECT_EQ(in_use(arena, 0), 0u);
}

TEST(FrameArena, WithoutAScopeBlocksComeFromTheHeapAndAreNotCounted) {
  FrameArena arena({{.slot_bytes = 128, .slots = 4}});
  void* block = FrameArena::allocate(64);
  EXPECT_EQ(in_use(arena, 0), 0u);
  EXPECT_EQ(arena.stats().heap_fallbacks, 0u);
  FrameArena::deallocate(block);
}

TEST(FrameArena, ScopesNestAndRestoreTheOuterArena) {
  FrameArena outer({{.slot_bytes = 128, .slots = 4}});
  FrameArena inner({{.slot_bytes = 128, .slots = 4}});
  FrameArena::Scope use_outer(outer);
  void* a = nullptr;
  {
    FrameArena::Scope use_inner(inner);
    a = FrameArena::allocate(64);
  }
  void* b = FrameArena::allocate(64);
  EXPECT_EQ(in_use(inner, 0), 1u);
  EXPECT_EQ(in_use(outer, 0), 1u);
  FrameArena::deallocate(a);  // back to the inner arena, whatever is current
  FrameArena::deallocate(b);
  EXPECT_EQ(in_use(inner, 0), 0u);
  EXPECT_EQ(in_use(outer, 0), 0u);
}

TEST(FrameArena, AFrameMayOutliveItsArena) {
  void* survivor = nullptr;
  {
    FrameArena arena({{.slot_bytes = 128, .slots = 4}});
    FrameArena::Scope use(arena);
    survivor = FrameArena::allocate(100);
    std::memset(survivor, 1, 100);
  }
  std::memset(survivor, 2, 100);  // the pool is still allocated (ASan checks)
  FrameArena::deallocate(survivor);  // and freed with its last frame
}

Task<int> leaf() { co_return 1; }

Task<int> chain(int depth) {
  if (depth == 0) co_return co_await leaf();
  co_return 1 + co_await chain(depth - 1);
}

TEST(FrameArena, TaskFramesComeFromTheCurrentArena) {
  FrameArena arena({{.slot_bytes = 1024, .slots = 8}});
  FrameArena::Scope use(arena);
  {
    Task<int> task = leaf();
    EXPECT_EQ(in_use(arena, 0), 1u);
  }
  EXPECT_EQ(in_use(arena, 0), 0u);
  EXPECT_EQ(run_to_completion(chain(3)), 4);
  EXPECT_EQ(in_use(arena, 0), 0u);
  EXPECT_EQ(arena.stats().heap_fallbacks, 0u);
}

TEST(FrameArena, AMillionTasksThroughABoundedArenaCountTheirFallbacks) {
  FrameArena arena({{.slot_bytes = 1024, .slots = 64}});
  FrameArena::Scope use(arena);
  // Each chain(99) holds 101 frames at its deepest: 64 from the arena, 37
  // from the heap; 9,901 chains make 1,000,001 frames.
  std::uint64_t total = 0;
  for (int i = 0; i < 9'901; ++i) total += static_cast<std::uint64_t>(run_to_completion(chain(99)));
  EXPECT_EQ(total, 9'901u * 100u);
  EXPECT_EQ(arena.stats().heap_fallbacks, 9'901u * 37u);
  EXPECT_EQ(in_use(arena, 0), 0u);
}

}  // namespace
