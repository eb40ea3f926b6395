// SpscRing: the queue of keel::async::spsc channels — a bounded FIFO of
// objects in raw slots, pushed by one thread and popped by another,
// without a locked instruction on either side.
//
//   SpscRing<Order> ring(64);
//   ring.try_push(order);                 // producer: ok, full or closed; `order` moved only on ok
//   std::optional<Order> o = ring.try_pop();   // consumer
//
// Positions only grow: objects sit at [head, tail), position p in slot
// p & mask of a power-of-two allocation, at most `capacity` at once. The
// producer owns tail_ and a cached copy of head; the consumer owns head_.
// A push publishes its object in the slot itself: the slot's stamp
// becomes p + 1 (release) once the object is built, and the consumer
// reads the stamp (acquire), not tail_, to learn that the slot holds the
// object for its position. So the consumer's fast path reads only slot
// lines, which carry several messages each when the producer is ahead,
// and never the line the producer writes its index to: across two cores
// that halves the cache-line transfers per message. tail_ is still
// published (release) for the rare readers: the wait handshake and the
// destructor. A slot's stamp from the previous lap is p + 1 - slots, and
// a never-used slot's is 0, so neither can pass for position p's.
//
// Close. close() (the receiver's) must not race with a push that already
// checked the flag: a message pushed after the receiver saw "closed and
// empty" would never be received. So a push raises pushing_ before its
// last look at the flag (a light fence between, see channel_fence.h), and
// close() sets the flag, runs a heavy fence and waits while pushing_ is
// up: either the push sees the flag and backs out, or close() sees the
// push and waits for the message to land in the queue, where the receiver
// drains it. pushing_ has a cache line of its own, which only close()
// reads.
//
// Not for user code: async/channel.h uses it.
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "async/internal/channel_fence.h"
#include "async/internal/waiter.h"

namespace keel::async::internal {

enum class PushResult { ok, full, closed };

// The size of a cache line, for keeping the two sides' indices apart.
inline constexpr std::size_t kCacheLine = 64;

template <class T>
class SpscRing {
  static_assert(std::is_nothrow_move_constructible_v<T>);

 public:
  explicit SpscRing(std::size_t capacity) : capacity_(capacity) {
    if (capacity == 0 || capacity > (std::size_t{1} << 40)) {
      throw std::length_error("keel: a channel's capacity is at least 1 and at most 2^40");
    }
    const std::size_t slots = std::bit_ceil(capacity);
    slots_ = std::make_unique<Slot[]>(slots);  // every stamp 0: no position's
    mask_ = slots - 1;
  }
  SpscRing(const SpscRing&) = delete;
  SpscRing& operator=(const SpscRing&) = delete;

  ~SpscRing() {
    const std::uint64_t tail = tail_.load(std::memory_order_acquire);
    // SAFETY: both sides are gone (the ring dies with the channel's last
    // endpoint), so exactly the positions [head_, tail) hold objects, each
    // in its own slot; each is destroyed once, before the slots' storage
    // goes with slots_.
    for (std::uint64_t p = head_.load(std::memory_order_relaxed); p != tail; ++p) std::destroy_at(object(p));
  }

  std::size_t capacity() const noexcept { return capacity_; }

  // Producer. Moves `value` in on ok, at `*position`; leaves it alone otherwise.
  PushResult try_push(T& value, std::uint64_t* position = nullptr) noexcept {
    if (closed_.load(std::memory_order_relaxed)) [[unlikely]] return PushResult::closed;
    const std::uint64_t tail = tail_.load(std::memory_order_relaxed);
    if (tail - head_cache_ >= capacity_) {
      head_cache_ = head_.load(std::memory_order_acquire);
      if (tail - head_cache_ >= capacity_) return PushResult::full;
    }
    // SAFETY: the mark close() waits on; the light fence keeps the flag's
    // read below after it (see the file comment).
    pushing_.store(true, std::memory_order_relaxed);
    light_fence();
    if (closed_.load(std::memory_order_relaxed)) [[unlikely]] {
      pushing_.store(false, std::memory_order_release);
      return PushResult::closed;
    }
    // SAFETY: tail - head < capacity <= slots (head read with acquire, so
    // the consumer's move out of this slot happened before), so position
    // tail maps to a slot no live object uses. The move cannot throw.
    Slot& at = slots_[tail & mask_];
    ::new (static_cast<void*>(at.bytes)) T(std::move(value));
    // SAFETY: the stamp's release publishes the object to the consumer's
    // acquire load of it; tail_'s, to the handshake and the destructor.
    // Lowering the mark with release orders both before a close() that
    // waited on it goes on.
    at.stamp.store(tail + 1, std::memory_order_release);
    tail_.store(tail + 1, std::memory_order_release);
    pushing_.store(false, std::memory_order_release);
    if (position != nullptr) *position = tail;
    return PushResult::ok;
  }

  // Producer: whether a push would find room (for a parked sender's recheck).
  bool has_room() noexcept {
    head_cache_ = head_.load(std::memory_order_acquire);
    return tail_.load(std::memory_order_relaxed) - head_cache_ < capacity_;
  }

  // Consumer: the oldest object, or nullopt when none is published.
  std::optional<T> try_pop() noexcept {
    const std::uint64_t head = head_.load(std::memory_order_relaxed);
    if (!published(head)) return std::nullopt;
    T* const at = object(head);
    // SAFETY: the slot's stamp is head + 1 (read with acquire, which
    // synchronizes with the push that built this object), so the slot
    // holds the oldest object. It is moved out and destroyed before head
    // moves on, and head's release store hands the empty slot back to the
    // producer.
    std::optional<T> out(std::in_place, std::move(*at));
    std::destroy_at(at);
    head_.store(head + 1, std::memory_order_release);
    return out;
  }

  // Any thread: positions below this one were consumed. acquire: seen by
  // a producer after the consumer's arming, it covers what the consumer
  // took before it armed.
  std::uint64_t head() const noexcept { return head_.load(std::memory_order_acquire); }
  // The consumer, after a pop: whether the producer, parked on a full
  // ring, now has room (its tail is read with acquire after its arming).
  bool producer_has_room() const noexcept {
    return tail_.load(std::memory_order_acquire) - head_.load(std::memory_order_relaxed) < capacity_;
  }

  // Consumer: whether an object is published (for a parked receiver's recheck).
  bool has_message() const noexcept { return published(head_.load(std::memory_order_relaxed)); }

  // The receiver closes: no push starts after this returns, and the one in
  // progress, if any, has landed (see the file comment).
  void close() noexcept {
    closed_.store(true, std::memory_order_release);
    heavy_fence();
    unsigned spins = 0;
    while (pushing_.load(std::memory_order_acquire)) pause_briefly(spins);
  }
  // The sender is gone: called by the producer after its last push.
  void close_from_producer() noexcept { closed_.store(true, std::memory_order_release); }
  // Either side: closed by close() or close_from_producer(). acquire: a
  // consumer that sees it sees every push the producer made before it.
  bool closed() const noexcept { return closed_.load(std::memory_order_acquire); }

 private:
  // Storage for one object and the stamp that says which position's
  // object it holds (see the file comment).
  struct Slot {
    std::atomic<std::uint64_t> stamp{0};
    alignas(T) std::byte bytes[sizeof(T)];
  };

  // Consumer: whether the object for `position` is built in its slot.
  bool published(std::uint64_t position) const noexcept {
    return slots_[position & mask_].stamp.load(std::memory_order_acquire) == position + 1;
  }
  T* object(std::uint64_t position) const noexcept {
    // SAFETY: called only for a position whose object was built in the
    // slot's bytes by try_push (published, or in [head, tail) at the end).
    return std::launder(reinterpret_cast<T*>(slots_[position & mask_].bytes));
  }

  std::unique_ptr<Slot[]> slots_;
  std::uint64_t mask_ = 0;
  std::size_t capacity_ = 0;
  std::atomic<bool> closed_{false};

  // Producer's line.
  alignas(kCacheLine) std::atomic<std::uint64_t> tail_{0};
  std::uint64_t head_cache_ = 0;
  // The producer's mark for close(); on a line of its own (see the file comment).
  alignas(kCacheLine) std::atomic<bool> pushing_{false};
  // Consumer's line.
  alignas(kCacheLine) std::atomic<std::uint64_t> head_{0};
};

}  // namespace keel::async::internal
