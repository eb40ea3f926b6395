// The task arena: where the runtime's coroutine frames come from. Frames
// are taken from size-classed pools of fixed slots (an intrusive free list
// per class), so spawning a task and calling a coroutine allocate nothing
// once the pools are warm; a frame larger than every class, or one whose
// class is full, comes from the heap and is counted.
//
//   keel::async::RuntimeOptions options;
//   options.arena = {{.slot_bytes = 256, .slots = 100'000}, {.slot_bytes = 2048, .slots = 1'000}};
//   keel::async::Runtime rt(world, options);
//   keel::async::ArenaStats s = rt.arena_stats();   // s.classes[i].in_use, s.heap_fallbacks
//
// Size the classes from arena_stats() under load: heap_fallbacks that
// keep growing mean a class is too small (or a frame too big for all).
// Frames of coroutines called while a Runtime exists on the thread come
// from its arena; they must be destroyed on that thread.
//
// Not for: objects that are not coroutine frames.
#pragma once

#include <cstddef>
#include <vector>

#include "async/internal/frame_arena.h"

namespace keel::async {

// One size class: slots of `slot_bytes` (the largest frame they hold), `slots` of them.
using ArenaClass = internal::FrameArena::SizeClass;
// Per class: slot_bytes, slots, in_use.
using ArenaClassStats = internal::FrameArena::ClassStats;
// classes (by slot size) and heap_fallbacks.
using ArenaStats = internal::FrameArena::Stats;

// The classes a Runtime gets by default: about 2.6 MiB of address space,
// touched only as slots are first used.
inline std::vector<ArenaClass> default_arena_classes() {
  return {{.slot_bytes = 128, .slots = 4096},
          {.slot_bytes = 256, .slots = 4096},
          {.slot_bytes = 512, .slots = 1024},
          {.slot_bytes = 1024, .slots = 256},
          {.slot_bytes = 4096, .slots = 64}};
}

}  // namespace keel::async
