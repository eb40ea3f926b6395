// Pattern 24 (docs/soundness.md): coroutine frames in FrameArena slots — a
// header before each block, free slots linked through their own bytes.
// Under ASan a block written past its class, a link read from a slot in
// use, or a pool freed while a frame is out shows up here.
#include "async/internal/frame_arena.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace {

using keel::async::internal::FrameArena;

TEST(FrameArenaSanitized, EveryByteOfEverySlotIsUsableAndSlotsDoNotOverlap) {
  FrameArena arena({{.slot_bytes = 48, .slots = 32}, {.slot_bytes = 200, .slots = 8}});
  FrameArena::Scope use(arena);
  std::vector<std::pair<unsigned char*, std::size_t>> blocks;
  for (int i = 0; i < 32; ++i) blocks.emplace_back(static_cast<unsigned char*>(FrameArena::allocate(48)), 48);
  for (int i = 0; i < 8; ++i) blocks.emplace_back(static_cast<unsigned char*>(FrameArena::allocate(200)), 200);
  for (std::size_t k = 0; k < blocks.size(); ++k) std::memset(blocks[k].first, static_cast<int>(k), blocks[k].second);
  for (std::size_t k = 0; k < blocks.size(); ++k) {
    for (std::size_t b = 0; b < blocks[k].second; ++b) ASSERT_EQ(blocks[k].first[b], static_cast<unsigned char>(k));
  }
  for (auto [block, bytes] : blocks) FrameArena::deallocate(block);
}

TEST(FrameArenaSanitized, FreeingAndReusingInAnyOrderKeepsTheFreeListIntact) {
  FrameArena arena({{.slot_bytes = 64, .slots = 16}});
  FrameArena::Scope use(arena);
  std::vector<void*> out;
  for (int round = 0; round < 100; ++round) {
    while (out.size() < 16) {
      void* block = FrameArena::allocate(64);
      std::memset(block, round, 64);  // overwrites the link a free slot held
      out.push_back(block);
    }
    // Free every other one, then the rest in reverse.
    for (std::size_t k = 0; k < out.size(); k += 2) FrameArena::deallocate(out[k]);
    for (std::size_t k = out.size(); k-- > 0;) {
      if (k % 2 == 1) FrameArena::deallocate(out[k]);
    }
    out.clear();
  }
  EXPECT_EQ(arena.stats().heap_fallbacks, 0u);
  EXPECT_EQ(arena.stats().classes[0].in_use, 0u);
}

TEST(FrameArenaSanitized, APoolOutlivesItsArenaUntilItsLastFrameIsFreed) {
  std::vector<void*> survivors;
  {
    FrameArena arena({{.slot_bytes = 64, .slots = 4}, {.slot_bytes = 512, .slots = 1}});
    FrameArena::Scope use(arena);
    survivors.push_back(FrameArena::allocate(64));
    survivors.push_back(FrameArena::allocate(64));
    survivors.push_back(FrameArena::allocate(4096));  // the heap
  }
  for (void* block : survivors) std::memset(block, 7, 64);
  for (void* block : survivors) FrameArena::deallocate(block);  // the last one frees the pool (LeakSanitizer checks)
}

}  // namespace
