// WatchSlab: the index-addressed storage behind keel::Uring — one slot per
// watched fd, holding its erased handler and its bookkeeping (fd, interest,
// generation). Freed slots are reused through a free list and carry a
// generation, so a stale keel::Watch, or a completion the kernel produced
// for a removed watch, never reaches a newer one.
//
// The difficulty is that a running handler may reach this very slab through
// the Uring: watch (both vectors grow and every handler is relocated),
// unwatch itself or others. So the Uring runs a handler by moving it out of
// its slot into a local (take()), running it, and then either moving it back
// by index (put_back(), never through a reference taken before the call) or,
// when the watch was removed meanwhile, letting the local die. A slot that is
// released — running or not — is emptied and freed before the handler's
// destructor runs, so a destructor that calls back into the slab finds it
// consistent.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "rt/internal/poll_backend.h"

namespace keel::internal {

// What the Uring records per watch. Plain data: the vector may move it.
struct WatchMeta {
  enum class State : std::uint8_t {
    kFree,     // on the free list
    kLive,     // watched, handler in its slot
    kRunning,  // watched, handler moved out and running
  };
  static constexpr std::uint32_t kNoIndex = ~std::uint32_t{0};

  int fd = -1;
  std::uint32_t interest = 0;     // POLLIN/POLLOUT/... bits asked for
  std::uint32_t generation = 1;   // in [1, kGenerationMask]; bumped on release
  std::uint32_t next_free = kNoIndex;
  State state = State::kFree;
};

// `Handler` is a move-only, nothrow-movable erased handler with an empty
// state and reset(): keel::InlineHandler<const Readiness&, N>.
template <class Handler>
class WatchSlab {
 public:
  static constexpr std::uint32_t kNoIndex = WatchMeta::kNoIndex;

  WatchSlab() = default;
  WatchSlab(const WatchSlab&) = delete;
  WatchSlab& operator=(const WatchSlab&) = delete;
  ~WatchSlab() { clear(); }

  // Stores a handler in a free slot (reusing one when there is one) and
  // returns its index; the slot is kLive. If growing throws, nothing has
  // changed.
  std::uint32_t allocate(Handler&& handler, int fd, std::uint32_t interest) {
    std::uint32_t index;
    if (free_head_ != kNoIndex) {
      index = free_head_;
      free_head_ = meta_[index].next_free;
    } else {
      index = static_cast<std::uint32_t>(meta_.size());
      handlers_.emplace_back();  // may throw: nothing has changed yet
      try {
        meta_.emplace_back();
      } catch (...) {
        handlers_.pop_back();
        throw;
      }
    }
    WatchMeta& m = meta_[index];
    m.fd = fd;
    m.interest = interest;
    m.next_free = kNoIndex;
    m.state = WatchMeta::State::kLive;
    handlers_[index] = std::move(handler);
    ++live_;
    return index;
  }

  // True when (index, generation) names a watched slot (live or running).
  bool live(std::uint32_t index, std::uint32_t generation) const noexcept {
    return index < meta_.size() && meta_[index].generation == generation &&
           meta_[index].state != WatchMeta::State::kFree;
  }

  // Moves the handler of a live slot out for running; the slot becomes
  // kRunning and stays allocated until put_back() or release().
  Handler take(std::uint32_t index) noexcept {
    assert(meta_[index].state == WatchMeta::State::kLive);
    meta_[index].state = WatchMeta::State::kRunning;
    // SAFETY: the handler leaves the vector for the duration of its call, so
    // neither vector growth (a watch() from inside it) nor a release() of
    // its slot (an unwatch of itself) can move or destroy the object that
    // is running. Only the index survives the call; the caller re-indexes
    // afterwards and checks the generation before put_back().
    return std::move(handlers_[index]);
  }

  // True when the slot still holds the running watch `generation`: the
  // handler that was taken may be put back.
  bool running(std::uint32_t index, std::uint32_t generation) const noexcept {
    return meta_[index].generation == generation && meta_[index].state == WatchMeta::State::kRunning;
  }

  // Returns a handler taken by take() to its slot, which becomes kLive.
  void put_back(std::uint32_t index, Handler&& handler) noexcept {
    // SAFETY: running(index, generation) held just before (the caller
    // checks it), so the slot was not released and reused while its handler
    // ran: it is allocated to the same watch and its handler is empty.
    assert(meta_[index].state == WatchMeta::State::kRunning && !handlers_[index]);
    meta_[index].state = WatchMeta::State::kLive;
    handlers_[index] = std::move(handler);
  }

  // Frees a watched slot and destroys its handler, if it still holds one (a
  // running slot holds none: the runner's local dies after the call). The
  // generation is bumped first, so every token and every completion of this
  // watch is stale by the time the destructor runs.
  void release(std::uint32_t index) noexcept {
    WatchMeta& m = meta_[index];
    assert(m.state != WatchMeta::State::kFree);
    Handler doomed = std::move(handlers_[index]);
    m.state = WatchMeta::State::kFree;
    m.generation = (m.generation + 1) & kGenerationMask;
    if (m.generation == 0) m.generation = 1;
    m.fd = -1;
    m.next_free = free_head_;
    free_head_ = index;
    --live_;
    // SAFETY: neither `m` nor any slot reference is used past this point:
    // the destructor may call back into the slab (allocate grows the
    // vectors), and the slab is consistent (the slot is free and empty)
    // before it runs.
    doomed.reset();
  }

  // Releases every watched slot, in index order; a destructor that watches
  // or unwatches meanwhile finds a consistent slab, and slots it fills are
  // released too (the loop re-reads the size).
  void clear() noexcept {
    for (std::size_t i = 0; i < meta_.size(); ++i) {
      if (meta_[i].state != WatchMeta::State::kFree) release(static_cast<std::uint32_t>(i));
    }
  }

  WatchMeta& meta(std::uint32_t index) noexcept { return meta_[index]; }
  const WatchMeta& meta(std::uint32_t index) const noexcept { return meta_[index]; }
  std::uint32_t generation(std::uint32_t index) const noexcept { return meta_[index].generation; }

  // Watched slots.
  std::size_t size() const noexcept { return live_; }
  // Slots ever allocated: an upper bound on any index.
  std::size_t capacity() const noexcept { return meta_.size(); }

 private:
  std::vector<WatchMeta> meta_;
  std::vector<Handler> handlers_;
  std::uint32_t free_head_ = kNoIndex;
  std::size_t live_ = 0;
};

}  // namespace keel::internal
