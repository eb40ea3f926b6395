// Slab storage: the index-addressed tables behind Keel's drivers, with a
// free list and a generation per slot so that a stale token never reaches a
// newer entry.
//
// GenerationalSlots<Slot>: slots in one vector, addressed by index. Freed
// slots are reused through a free list threaded through Slot::next_free;
// freeing bumps the slot's generation, so a copyable token (index,
// generation) taken before stops matching. ReactorSlab and ReactorNotify's
// sources use it directly.
//
// Slab<Meta, Payload>: GenerationalSlots<Meta> plus a parallel vector of
// erased handlers, for a driver whose handler may reach the slab while it
// runs (allocate, so both vectors grow; release itself or others). The
// driver moves the handler out of its slot (take()), runs it, and moves it
// back by index (put_back()) if the slot still holds it (taken()); a slot is
// emptied and freed before its handler's destructor runs (release()).
// WatchSlab and TimerSlab are Slabs with their own bookkeeping in `Meta`.
//
//   const std::uint32_t index = slab.allocate(std::move(handler));
//   const std::uint32_t generation = slab.generation(index);
//   Handler running = slab.take(index);
//   running.run(world, event);  // may allocate, or release `index`
//   if (slab.taken(index, generation)) slab.put_back(index, std::move(running));
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace keel::internal {

// No slot: the end of a free list, or of a list of slots threaded by index.
inline constexpr std::uint32_t kNoIndex = ~std::uint32_t{0};

// The generation after `generation`, within kMask's bits. 0 is skipped: it
// is never a live generation (a default token holds it).
template <std::uint32_t kMask>
constexpr std::uint32_t next_generation(std::uint32_t generation) noexcept {
  const std::uint32_t next = (generation + 1) & kMask;
  return next == 0 ? 1 : next;
}

// `Slot` is default-constructible and movable, with `std::uint32_t
// generation = 1` and `std::uint32_t next_free`. release_all() also needs a
// `state` whose `Slot::State::kFree` marks a free slot.
template <class Slot, std::uint32_t kGenerationMask = ~std::uint32_t{0}>
class GenerationalSlots {
 public:
  // The index of a free slot: the last one freed, or a new slot at the end.
  // The slot keeps its generation (the one its tokens will carry) and what
  // its last holder left in it; next_free is reset. Throws only when it
  // grows, and then nothing has changed.
  std::uint32_t acquire() {
    std::uint32_t index;
    if (free_head_ != kNoIndex) {
      index = free_head_;
      free_head_ = slots_[index].next_free;
      slots_[index].next_free = kNoIndex;
    } else {
      index = static_cast<std::uint32_t>(slots_.size());
      slots_.emplace_back();  // may throw: nothing has changed yet
    }
    return index;
  }

  // True when acquire() reuses a slot (and cannot throw).
  bool has_free() const noexcept { return free_head_ != kNoIndex; }

  // Puts an acquired slot on the free list and bumps its generation, so no
  // token handed out for it matches any more. The caller has emptied it
  // (and marked it free, if slots have a state).
  void free(std::uint32_t index) noexcept {
    Slot& slot = slots_[index];
    slot.generation = next_generation<kGenerationMask>(slot.generation);
    slot.next_free = free_head_;
    free_head_ = index;
  }

  // True when `index` is in range and the slot's generation is `generation`.
  bool current(std::uint32_t index, std::uint32_t generation) const noexcept {
    return index < slots_.size() && slots_[index].generation == generation;
  }

  // Calls release(index) for every slot that is not free, in index order,
  // and passes again until one finds none: a release may run code (a
  // destructor) that fills slots, also below the cursor.
  template <class Release>
  void release_all(Release&& release) {
    for (bool released = true; released;) {
      released = false;
      for (std::size_t i = 0; i < slots_.size(); ++i) {  // re-reads the size
        if (slots_[i].state != Slot::State::kFree) {
          release(static_cast<std::uint32_t>(i));
          released = true;
        }
      }
    }
  }

  Slot& operator[](std::uint32_t index) noexcept { return slots_[index]; }
  const Slot& operator[](std::uint32_t index) const noexcept { return slots_[index]; }

  // Slots ever acquired: an upper bound on any index.
  std::size_t size() const noexcept { return slots_.size(); }
  void reserve(std::size_t n) { slots_.reserve(n); }

 private:
  std::vector<Slot> slots_;
  std::uint32_t free_head_ = kNoIndex;
};

// `Meta` is a GenerationalSlots slot with a `state`: Meta::State::kFree,
// Meta::kHeld (the handler is in its slot) and Meta::kTaken (moved out by
// take(), running). `Payload` is a move-only, nothrow-movable erased handler
// whose default state is empty, with reset() and a bool conversion:
// keel::InlineHandler.
template <class Meta, class Payload, std::uint32_t kGenerationMask = ~std::uint32_t{0}>
class Slab {
 public:
  static constexpr std::uint32_t kNoIndex = internal::kNoIndex;

  Slab() = default;
  Slab(const Slab&) = delete;
  Slab& operator=(const Slab&) = delete;
  ~Slab() { clear(); }

  void reserve(std::size_t n) {
    meta_.reserve(n);
    payloads_.reserve(n);
  }

  // Stores a handler in a free slot (reusing one when there is one) and
  // returns its index; the slot is kHeld, the rest of its Meta as its last
  // holder left it. If growing throws, nothing has changed.
  std::uint32_t allocate(Payload&& payload) {
    if (!meta_.has_free()) payloads_.emplace_back();  // may throw: nothing has changed yet
    std::uint32_t index;
    try {
      index = meta_.acquire();  // throws only when it grows
    } catch (...) {
      payloads_.pop_back();
      throw;
    }
    meta_[index].state = Meta::kHeld;
    payloads_[index] = std::move(payload);
    return index;
  }

  // True when (index, generation) names an allocated slot (held or taken).
  bool allocated(std::uint32_t index, std::uint32_t generation) const noexcept {
    return meta_.current(index, generation) && meta_[index].state != Meta::State::kFree;
  }

  // Moves the handler of a held slot out for running; the slot becomes
  // kTaken and stays allocated (its generation unchanged) until put_back()
  // or release().
  Payload take(std::uint32_t index) noexcept {
    assert(meta_[index].state == Meta::kHeld);
    meta_[index].state = Meta::kTaken;
    // SAFETY: the handler leaves the vector for the duration of its call, so
    // neither vector growth (an allocate from inside it) nor a release() of
    // its slot can move or destroy the object that is running. Only the
    // index survives the call; the caller re-indexes afterwards.
    return std::move(payloads_[index]);
  }

  // True when the slot still holds the taken handler of `generation`: it
  // was not released (and perhaps reused) while out, so it may go back.
  bool taken(std::uint32_t index, std::uint32_t generation) const noexcept {
    return meta_[index].generation == generation && meta_[index].state == Meta::kTaken;
  }

  // Returns a handler taken by take() to its slot, which becomes kHeld.
  void put_back(std::uint32_t index, Payload&& payload) noexcept {
    // SAFETY: the slot is still the taker's: the caller checked taken()
    // just before, or knows the slot cannot have been released while its
    // handler ran. So it is allocated to the same holder and its handler
    // vector entry is empty; nothing is overwritten.
    assert(meta_[index].state == Meta::kTaken && !payloads_[index]);
    meta_[index].state = Meta::kHeld;
    payloads_[index] = std::move(payload);
  }

  // Frees an allocated slot (held or taken) and destroys its handler, if it
  // still holds one (a taken slot holds none: the taker's local dies after
  // the call). The generation is bumped first, so every token of this slot
  // is stale by the time the destructor runs.
  void release(std::uint32_t index) noexcept {
    assert(meta_[index].state != Meta::State::kFree);
    meta_[index].state = Meta::State::kFree;
    meta_.free(index);
    Payload doomed = std::move(payloads_[index]);
    // SAFETY: no slot reference is used past this point: the destructor may
    // call back into the slab (allocate grows the vectors), and the slab is
    // consistent (the slot is free and empty) before it runs.
    doomed.reset();
  }

  // Releases every allocated slot, in index order. Each is freed before its
  // handler's destructor runs (see release()), so a destructor that
  // releases or allocates finds a consistent slab; slots it fills are
  // released by a further pass. State that points into the slab (lists
  // threaded through Meta) must be reset by the owner first.
  void clear() noexcept {
    meta_.release_all([this](std::uint32_t index) { release(index); });
  }

  Meta& meta(std::uint32_t index) noexcept { return meta_[index]; }
  const Meta& meta(std::uint32_t index) const noexcept { return meta_[index]; }
  std::uint32_t generation(std::uint32_t index) const noexcept { return meta_[index].generation; }

  // Slots ever allocated: an upper bound on any index.
  std::size_t capacity() const noexcept { return meta_.size(); }

 protected:
  GenerationalSlots<Meta, kGenerationMask> meta_;

 private:
  std::vector<Payload> payloads_;
};

}  // namespace keel::internal
