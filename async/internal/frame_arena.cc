#include "async/internal/frame_arena.h"

#include <algorithm>
#include <vector>

namespace keel::async::internal {

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

void* FrameArena::allocate_from_heap(std::size_t bytes) {
  void* raw = ::operator new(sizeof(Header) + bytes);
  // SAFETY: `raw` is fresh storage from operator new, aligned for Header;
  // the block handed out starts right after it, so it keeps that alignment.
  ::new (raw) Header{nullptr};
  return static_cast<std::byte*>(raw) + sizeof(Header);
}

void* FrameArena::allocate_fallback(std::size_t bytes) {
  ++heap_fallbacks_;
  return allocate_from_heap(bytes);
}

void FrameArena::deallocate_slow(Pool* pool, std::byte* start) noexcept {
  if (pool == nullptr) {
    ::operator delete(start);
    return;
  }
  delete pool;  // orphaned by its arena, and this was its last frame
}

FrameArena::Stats FrameArena::stats() const {
  Stats stats;
  stats.heap_fallbacks = heap_fallbacks_;
  for (const Pool* pool : pools_) stats.classes.push_back({pool->slot_bytes, pool->slots, pool->in_use});
  return stats;
}

}  // namespace keel::async::internal
