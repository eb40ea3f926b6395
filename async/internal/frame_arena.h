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
  // arena's smallest class that fits, else from the heap (counted when an
  // arena is current: too large for every class, or that class is full —
  // never a larger class, so classes stay predictable). Throws
  // std::bad_alloc only when the heap does.
  static void* allocate(std::size_t bytes) {
    FrameArena* arena = current_;
    if (arena == nullptr) return allocate_from_heap(bytes);
    for (Pool* pool : arena->pools_) {
      if (pool->slot_bytes < bytes) continue;
      if (std::byte* slot = pool->take()) {
        // SAFETY: `slot` is the start of a slot no one else holds (just
        // taken from the free list or never handed out), aligned for Header
        // (the storage comes from operator new and the stride is a multiple
        // of the alignment).
        ::new (static_cast<void*>(slot)) Header{pool};
        return slot + sizeof(Header);
      }
      break;
    }
    return arena->allocate_fallback(bytes);
  }

  // Returns a block from allocate() to where it came from.
  static void deallocate(void* block) noexcept {
    if (block == nullptr) return;
    std::byte* start = static_cast<std::byte*>(block) - sizeof(Header);
    // SAFETY: every block comes from allocate(), which built a Header just
    // before it and never touches it again until here.
    Pool* pool = std::launder(reinterpret_cast<Header*>(start))->pool;
    if (pool != nullptr) {
      pool->give_back(start);
      if (pool->arena != nullptr || pool->in_use != 0) [[likely]] return;
    }
    deallocate_slow(pool, start);
  }

  Stats stats() const;

 private:
  static constexpr std::size_t kAlign = __STDCPP_DEFAULT_NEW_ALIGNMENT__;

  struct Pool;
  // What precedes every block: its pool, or nullptr for the heap. As large
  // as the strictest alignment operator new promises, so the block after
  // it keeps that alignment.
  struct alignas(kAlign) Header {
    Pool* pool;
  };
  // A free slot's link to the next free slot, built in the slot's frame bytes.
  struct FreeSlot {
    std::byte* next;
  };

  struct Pool {
    Pool(std::size_t slot_bytes, std::size_t slots)
        : slot_bytes(round_up(slot_bytes < sizeof(FreeSlot) ? sizeof(FreeSlot) : slot_bytes)),
          stride(sizeof(Header) + this->slot_bytes),
          slots(slots),
          storage(static_cast<std::byte*>(::operator new(stride * slots))) {}
    ~Pool() { ::operator delete(storage); }
    Pool(const Pool&) = delete;
    Pool& operator=(const Pool&) = delete;

    // A slot's start (where its Header goes), or nullptr when all are out.
    std::byte* take() noexcept {
      std::byte* slot = nullptr;
      if (free_head != nullptr) {
        slot = free_head;
        // SAFETY: a slot on the free list holds a FreeSlot, built by
        // give_back() right after its Header; nothing else touched it since.
        free_head = std::launder(reinterpret_cast<FreeSlot*>(slot + sizeof(Header)))->next;
      } else if (untouched < slots) {
        slot = storage + stride * untouched++;
      } else {
        return nullptr;
      }
      ++in_use;
      return slot;
    }

    void give_back(std::byte* slot) noexcept {
      // SAFETY: `slot` is a slot of this pool whose frame has been destroyed
      // (the coroutine's operator delete runs after its frame's lifetime
      // ends), so its bytes may be reused for the link. FreeSlot is
      // trivially destructible: overwriting it later needs no destructor call.
      ::new (static_cast<void*>(slot + sizeof(Header))) FreeSlot{free_head};
      free_head = slot;
      --in_use;
    }

    const std::size_t slot_bytes;  // usable bytes after the header
    const std::size_t stride;      // header + slot
    const std::size_t slots;
    std::byte* const storage;
    std::byte* free_head = nullptr;
    std::size_t untouched = 0;  // slots [untouched, slots) were never handed out
    std::size_t in_use = 0;
    FrameArena* arena = nullptr;  // nullptr once the arena is gone (the pool then dies with its last frame)
  };

  static constexpr std::size_t round_up(std::size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

  static void* allocate_from_heap(std::size_t bytes);
  void* allocate_fallback(std::size_t bytes);
  static void deallocate_slow(Pool* pool, std::byte* start) noexcept;

  static inline thread_local FrameArena* current_ = nullptr;

  std::vector<Pool*> pools_;  // by slot size; owned (see ~FrameArena)
  std::uint64_t heap_fallbacks_ = 0;
};

}  // namespace keel::async::internal
