// WatchSlab: the index-addressed storage behind keel::Uring — one slot per
// watched fd, holding its erased handler and its bookkeeping (fd, interest,
// generation). Freed slots are reused through a free list and carry a
// generation, so a stale keel::Watch, or a completion the kernel produced
// for a removed watch, never reaches a newer one.
//
// A Slab (rt/internal/slab.h) whose generations wrap within the 30 bits a
// completion's user_data carries for them (rt/internal/poll_backend.h).
// A running handler may reach this very slab through the Uring: watch (both
// vectors grow and every handler is relocated), unwatch itself or others.
// So the Uring runs a handler by moving it out of its slot (take()), and
// afterwards moves it back by index (put_back()) only if the watch is still
// there (taken()); otherwise the runner's local dies after the call. A
// released slot is emptied and freed before the handler's destructor runs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

#include "rt/internal/poll_backend.h"
#include "rt/internal/slab.h"

namespace keel::internal {

// What the Uring records per watch. Plain data: the vector may move it.
struct WatchMeta {
  enum class State : std::uint8_t {
    kFree,     // on the free list
    kLive,     // watched, handler in its slot
    kRunning,  // watched, handler moved out and running
  };
  static constexpr State kHeld = State::kLive;
  static constexpr State kTaken = State::kRunning;

  int fd = -1;
  std::uint32_t interest = 0;    // POLLIN/POLLOUT/... bits asked for
  std::uint32_t generation = 1;  // in [1, kGenerationMask]; bumped on release
  std::uint32_t next_free = kNoIndex;
  State state = State::kFree;
};

// `Handler` is a move-only, nothrow-movable erased handler with an empty
// state and reset(): keel::InlineHandler<const Readiness&, N>. allocated()
// is true for a watched slot (live or running), taken() for the running
// watch of a generation.
template <class Handler>
class WatchSlab : public Slab<WatchMeta, Handler, kGenerationMask> {
  using Base = Slab<WatchMeta, Handler, kGenerationMask>;

 public:
  ~WatchSlab() { clear(); }

  // Stores a handler for `fd` in a free slot and returns its index; the
  // slot is kLive. If growing throws, nothing has changed.
  std::uint32_t allocate(Handler&& handler, int fd, std::uint32_t interest) {
    const std::uint32_t index = Base::allocate(std::move(handler));
    WatchMeta& m = this->meta(index);
    m.fd = fd;
    m.interest = interest;
    ++size_;
    return index;
  }

  // Frees a watched slot; see Slab::release.
  void release(std::uint32_t index) noexcept {
    --size_;
    Base::release(index);  // last: runs the handler's destructor
  }

  // Releases every watched slot; see Slab::clear.
  void clear() noexcept {
    this->meta_.release_all([this](std::uint32_t index) { release(index); });
  }

  // Watched slots.
  std::size_t size() const noexcept { return size_; }

 private:
  std::size_t size_ = 0;
};

}  // namespace keel::internal
