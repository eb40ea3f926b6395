// FrameArena: where coroutine frames come from. Size-classed pools of
// fixed slots, each pool one allocation made up front, free slots linked
// through their own first bytes (an intrusive free list), so allocating
// and freeing a frame is a pop and a push. A frame larger than every
// class, or one asked for when its class is full, comes from the heap and
// is counted as a fallback.
//
//   FrameArena arena({{.slot_bytes = 256, .slots = 4096}, {.slot_bytes = 1024, .slots = 512}});
//   FrameArena::Scope use(arena);                 // this thread's frames come from it
//   void* frame = FrameArena::allocate(200);      // a 256-byte slot
//   FrameArena::deallocate(frame);                // back on its free list
//
// Every block starts with a small header naming the pool it came from (or
// none: the heap), so deallocate() needs neither the size nor the current
// arena, and a frame may outlive the Scope it was allocated in. A pool that
// still has frames out when its arena is destroyed stays allocated until
// the last of them is freed. Single-threaded: frames are allocated and
// freed on the thread that owns the arena.
//
// Not for: objects other than coroutine frames (use a std::pmr resource),
// or memory shared between threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <new>
#include <utility>
#include <vector>

namespace keel::async::internal {

class FrameArena {
 public:
  struct SizeClass {
    std::size_t slot_bytes = 0;  // the largest frame a slot holds
    std::size_t slots = 0;
  };
  struct ClassStats {
    std::size_t slot_bytes = 0;
    std::size_t slots = 0;
    std::size_t in_use = 0;
  };
  struct Stats {
    std::vector<ClassStats> classes;
    std::uint64_t heap_fallbacks = 0;  // frames too large for every class, or whose class was full
  };

  // Classes are sorted by size; a class with no slots is dropped.
  explicit FrameArena(std::initializer_list<SizeClass> classes);
  explicit FrameArena(std::vector<SizeClass> classes);
  ~FrameArena();
  FrameArena(const FrameArena&) = delete;
  FrameArena& operator=(const FrameArena&) = delete;

  // While a Scope lives, allocate() on this thread draws from `arena`.
  class Scope {
   public:
    explicit Scope(FrameArena& arena) noexcept : outer_(std::exchange(current_, &arena)) {}
    ~Scope() { current_ = outer_; }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    FrameArena* outer_;
  };

  // A block of at least `bytes`, aligned for any frame: from the current
  // arena's smallest class that fits and has a free slot, else from the
  // heap (counted when an arena is current). Throws std::bad_alloc only
  // when the heap does.
  static void* allocate(std::size_t bytes);
  // Returns a block from allocate() to where it came from.
  static void deallocate(void* block) noexcept;

  Stats stats() const;

 private:
  struct Pool;
  // What precedes every block: its pool, or nullptr for the heap. As large
  // as the strictest alignment operator new promises, so the block after
  // it keeps that alignment.
  struct alignas(__STDCPP_DEFAULT_NEW_ALIGNMENT__) Header {
    Pool* pool;
  };

  void* allocate_here(std::size_t bytes);

  static inline thread_local FrameArena* current_ = nullptr;

  std::vector<Pool*> pools_;  // by slot size; owned (see ~FrameArena)
  std::uint64_t heap_fallbacks_ = 0;
};

}  // namespace keel::async::internal
