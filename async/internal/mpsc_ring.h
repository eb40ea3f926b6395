// MpscRing: the queue of keel::async::mpsc channels — a bounded FIFO of
// objects in raw slots, pushed by any number of threads and popped by one.
// A push claims a position with one compare-and-swap on tail_; a pop takes
// no locked instruction.
//
//   MpscRing<Order> ring(64);
//   ring.try_push(order);                     // any thread: ok, full or closed
//   std::optional<Order> o = ring.try_pop();  // the consumer
//
// Each slot carries a stamp saying what it holds for which lap (the
// bounded queue of D. Vyukov, with exact capacity and a closed mark as in
// crossbeam's array channel). A position is lap | index, index < capacity;
// tail_ and head_ advance index by one and, past the last index, jump to
// index 0 of the next lap. For the slot at position p:
//   stamp == p        empty, the producer that claims p may write it;
//   stamp == p + 1    holds the object pushed at p, for the consumer;
//   stamp == p + lap  emptied by the consumer, free for position p + lap.
// A producer claims p by moving tail_ from p with a CAS, builds the object,
// then stores stamp p + 1 (release); the consumer reads the stamp with
// acquire before it moves the object out, then stores p + lap (release),
// read with acquire by the next lap's producer. A claimed position whose
// object is still being built reads as empty to the consumer.
//
// Closing sets the mark bit of tail_ (one fetch_or): every later claim
// fails, and the positions claimed before it are exactly those below the
// marked tail, so the consumer knows when it has drained the last one.
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

#include "async/internal/spsc_ring.h"
#include "async/internal/waiter.h"

namespace keel::async::internal {

template <class T>
class MpscRing {
  static_assert(std::is_nothrow_move_constructible_v<T>);

  struct Slot {
    std::atomic<std::uint64_t> stamp;
    alignas(T) unsigned char storage[sizeof(T)];
  };

 public:
  explicit MpscRing(std::size_t capacity)
      : capacity_(capacity), mark_bit_(std::bit_ceil(capacity + 1)), one_lap_(mark_bit_ * 2) {
    if (capacity == 0 || capacity > (std::size_t{1} << 40)) {
      throw std::length_error("keel: a channel's capacity is at least 1 and at most 2^40");
    }
    slots_ = std::allocator<Slot>().allocate(capacity);
    for (std::size_t i = 0; i < capacity; ++i) {
      // SAFETY: the stamps are the slots' only members constructed up
      // front; storage holds an object only between a push and its pop.
      ::new (static_cast<void*>(&slots_[i].stamp)) std::atomic<std::uint64_t>(i);
    }
  }
  MpscRing(const MpscRing&) = delete;
  MpscRing& operator=(const MpscRing&) = delete;

  ~MpscRing() {
    const std::uint64_t tail = tail_.load(std::memory_order_acquire) & ~mark_bit_;
    // SAFETY: every endpoint is gone, so no claim is in flight: the
    // positions [head_, tail) hold objects, each destroyed once.
    for (std::uint64_t p = head_.load(std::memory_order_relaxed); p != tail; p = next(p)) std::destroy_at(object(slots_[index(p)]));
    for (std::size_t i = 0; i < capacity_; ++i) std::destroy_at(&slots_[i].stamp);
    std::allocator<Slot>().deallocate(slots_, capacity_);
  }

  std::size_t capacity() const noexcept { return capacity_; }

  // Any thread. Moves `value` in on ok, at `*position`; leaves it alone otherwise.
  PushResult try_push(T& value, std::uint64_t* position = nullptr) noexcept {
    std::uint64_t tail = tail_.load(std::memory_order_relaxed);
    unsigned spins = 0;
    while (true) {
      if ((tail & mark_bit_) != 0) [[unlikely]] return PushResult::closed;
      Slot& s = slots_[index(tail)];
      // SAFETY: acquire pairs with the consumer's release of this slot
      // (stamp tail): its move out of the storage happened before.
      const std::uint64_t stamp = s.stamp.load(std::memory_order_acquire);
      if (stamp == tail) {
        // SAFETY: relaxed claim: the CAS only decides which producer owns
        // position tail; the data is published by the stamp's release.
        if (tail_.compare_exchange_weak(tail, next(tail), std::memory_order_relaxed, std::memory_order_relaxed)) {
          // SAFETY: this producer alone claimed position tail, whose slot
          // is empty (stamp == tail); the move cannot throw.
          ::new (static_cast<void*>(s.storage)) T(std::move(value));
          s.stamp.store(tail + 1, std::memory_order_release);
          if (position != nullptr) *position = tail;
          return PushResult::ok;
        }
        // Another producer claimed it: `tail` was reloaded; try the next.
      } else if (stamp + one_lap_ == tail + 1) {
        return PushResult::full;  // the slot still holds last lap's object
      } else {
        pause_briefly(spins);  // another producer is ahead: read tail again
        tail = tail_.load(std::memory_order_relaxed);
      }
    }
  }

  // The consumer: the oldest object, or nullopt when none is published.
  std::optional<T> try_pop() noexcept {
    const std::uint64_t head = head_.load(std::memory_order_relaxed);
    Slot& s = slots_[index(head)];
    if (s.stamp.load(std::memory_order_acquire) != head + 1) return std::nullopt;
    T* const at = object(s);
    // SAFETY: stamp head + 1 (acquire) means the push at head built this
    // object and published it; it is moved out and destroyed before the
    // release store hands the slot to the next lap's producer.
    std::optional<T> out(std::in_place, std::move(*at));
    std::destroy_at(at);
    s.stamp.store(head + one_lap_, std::memory_order_release);
    head_.store(next(head), std::memory_order_release);
    return out;
  }

  // The consumer: whether the object at the head is published.
  bool has_message() const noexcept {
    const std::uint64_t head = head_.load(std::memory_order_relaxed);
    return slots_[index(head)].stamp.load(std::memory_order_acquire) == head + 1;
  }
  // Any thread: positions below this one were consumed (positions grow as
  // integers across laps). acquire: seen after the consumer's arming, it
  // covers what the consumer took before it armed.
  std::uint64_t head() const noexcept { return head_.load(std::memory_order_acquire); }

  // Any thread; no claim succeeds afterwards. Returns false if it was closed already.
  bool close() noexcept {
    const bool first = (tail_.fetch_or(mark_bit_, std::memory_order_acq_rel) & mark_bit_) == 0;
    // SAFETY: set after the mark, with release: whoever sees the flag
    // (acquire) sees the marked tail. The flag lives on a line of its own,
    // so a receiver polling an empty channel does not pull tail_ away from
    // the producers' compare-and-swap.
    closed_.store(true, std::memory_order_release);
    return first;
  }
  bool closed() const noexcept { return closed_.load(std::memory_order_acquire); }
  // The consumer: closed, and every position claimed before that popped.
  bool drained() const noexcept {
    if (!closed_.load(std::memory_order_acquire)) [[likely]] return false;
    return (tail_.load(std::memory_order_acquire) & ~mark_bit_) == head_.load(std::memory_order_relaxed);
  }

 private:
  std::uint64_t index(std::uint64_t position) const noexcept { return position & (mark_bit_ - 1); }
  std::uint64_t next(std::uint64_t position) const noexcept {
    return index(position) + 1 < capacity_ ? position + 1 : (position & ~(one_lap_ - 1)) + one_lap_;
  }
  static T* object(Slot& s) noexcept {
    // SAFETY: called only for a slot whose stamp says it holds an object
    // built in its storage by placement new.
    return std::launder(reinterpret_cast<T*>(s.storage));
  }

  Slot* slots_ = nullptr;
  std::size_t capacity_;
  std::uint64_t mark_bit_;  // the closed mark in tail_; index bits are below it
  std::uint64_t one_lap_;   // lap unit, above the mark bit

  alignas(kCacheLine) std::atomic<std::uint64_t> tail_{0};
  // Written by the consumer alone; read by producers deciding whether a
  // wake is still needed.
  alignas(kCacheLine) std::atomic<std::uint64_t> head_{0};
  alignas(kCacheLine) std::atomic<bool> closed_{false};  // set once, after the mark
};

}  // namespace keel::async::internal
