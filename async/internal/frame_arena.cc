#include "async/internal/frame_arena.h"

#include <algorithm>

namespace keel::async::internal {

namespace {

// A free slot's link to the next free slot, built in the slot's frame bytes.
struct FreeSlot {
  std::byte* next;
};

constexpr std::size_t kAlign = __STDCPP_DEFAULT_NEW_ALIGNMENT__;

constexpr std::size_t round_up(std::size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

}  // namespace

struct FrameArena::Pool {
  Pool(std::size_t slot_bytes, std::size_t slots)
      : slot_bytes(round_up(std::max(slot_bytes, sizeof(FreeSlot)))),
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
      // SAFETY: a slot on the free list holds a FreeSlot, built by give_back()
      // right after its Header; nothing else touched it since.
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

FrameArena::FrameArena(std::initializer_list<SizeClass> classes) : FrameArena(std::vector<SizeClass>(classes)) {}

FrameArena::FrameArena(std::vector<SizeClass> sorted) {
  std::sort(sorted.begin(), sorted.end(),
            [](const SizeClass& a, const SizeClass& b) { return a.slot_bytes < b.slot_bytes; });
  pools_.reserve(sorted.size());
  try {
    for (const SizeClass& c : sorted) {
      if (c.slots == 0 || c.slot_bytes == 0) continue;
      pools_.push_back(new Pool(c.slot_bytes, c.slots));
      pools_.back()->arena = this;
    }
  } catch (...) {
    for (Pool* pool : pools_) delete pool;
    throw;
  }
}

FrameArena::~FrameArena() {
  for (Pool* pool : pools_) {
    if (pool->in_use == 0) {
      delete pool;
    } else {
      pool->arena = nullptr;  // the last deallocate() deletes it
    }
  }
  if (current_ == this) current_ = nullptr;
}

void* FrameArena::allocate(std::size_t bytes) {
  if (current_ != nullptr) return current_->allocate_here(bytes);
  void* raw = ::operator new(sizeof(Header) + bytes);
  // SAFETY: `raw` is fresh storage from operator new, aligned for Header;
  // the block handed out starts right after it, so it keeps that alignment.
  ::new (raw) Header{nullptr};
  return static_cast<std::byte*>(raw) + sizeof(Header);
}

void* FrameArena::allocate_here(std::size_t bytes) {
  for (Pool* pool : pools_) {
    if (pool->slot_bytes < bytes) continue;
    if (std::byte* slot = pool->take()) {
      // SAFETY: `slot` is the start of a slot no one else holds (just taken
      // from the free list or never handed out), aligned for Header (the
      // storage comes from operator new and the stride is a multiple of
      // the alignment).
      ::new (static_cast<void*>(slot)) Header{pool};
      return slot + sizeof(Header);
    }
    break;  // the class that fits is full: the heap, not a larger class, so classes stay predictable
  }
  ++heap_fallbacks_;
  void* raw = ::operator new(sizeof(Header) + bytes);
  ::new (raw) Header{nullptr};  // SAFETY: as in allocate()
  return static_cast<std::byte*>(raw) + sizeof(Header);
}

void FrameArena::deallocate(void* block) noexcept {
  if (block == nullptr) return;
  std::byte* start = static_cast<std::byte*>(block) - sizeof(Header);
  // SAFETY: every block comes from allocate(), which built a Header just
  // before it and never touches it again until here.
  Pool* pool = std::launder(reinterpret_cast<Header*>(start))->pool;
  if (pool == nullptr) {
    ::operator delete(start);
    return;
  }
  pool->give_back(start);
  if (pool->arena == nullptr && pool->in_use == 0) delete pool;
}

FrameArena::Stats FrameArena::stats() const {
  Stats stats;
  stats.heap_fallbacks = heap_fallbacks_;
  for (const Pool* pool : pools_) stats.classes.push_back({pool->slot_bytes, pool->slots, pool->in_use});
  return stats;
}

}  // namespace keel::async::internal
