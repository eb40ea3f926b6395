// EventRing: a bounded FIFO of objects in storage allocated once and never
// grown, built at the back and taken from the front in place. The
// raw-memory half of keel::Inbox (rt/mailbox.h): unlike std::deque it never
// allocates after construction, and unlike FixedCapacityBuffer (the batch
// pipeline's storage) it wraps around, so taking from the front moves
// nothing else.
//
//   EventRing<Order> ring(256);
//   ring.try_emplace_back(order);        // false when full, `order` untouched
//   Order next = ring.take_front();      // moved out; the slot is empty again
//
// Objects sit at the positions [head, tail) of a stream that only moves
// forward, position p in slot p modulo the storage size (a power of two);
// the other slots hold none. Pushing moves tail only and taking moves head
// only, so a consumer can take in a loop that keeps head in a register while
// the code it calls pushes.
#pragma once

#include <bit>
#include <cassert>
#include <cstddef>
#include <memory>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace keel::internal {

template <class T>
class EventRing {
  static_assert(std::is_object_v<T> && !std::is_const_v<T> && !std::is_volatile_v<T>,
                "keel: an EventRing holds objects of a non-const, non-volatile object type.");

 public:
  // Capacity 0: refuses every object and allocates nothing.
  EventRing() noexcept = default;
  // Storage for `capacity` objects, rounded up to a power of two so that a
  // position becomes a slot with a mask; at most `capacity` are held.
  explicit EventRing(std::size_t capacity) : capacity_(capacity) {
    if (capacity == 0) return;
    if (capacity > kMaxCapacity) throw std::length_error("keel: EventRing capacity too large");
    const std::size_t slots = std::bit_ceil(capacity);
    slots_ = std::allocator<T>().allocate(slots);
    mask_ = slots - 1;
  }

  EventRing(EventRing&& other) noexcept
      : slots_(std::exchange(other.slots_, nullptr)),
        mask_(std::exchange(other.mask_, 0)),
        capacity_(std::exchange(other.capacity_, 0)),
        head_(std::exchange(other.head_, 0)),
        tail_(std::exchange(other.tail_, 0)) {}
  EventRing& operator=(EventRing&& other) noexcept {
    if (this != &other) {
      release();
      slots_ = std::exchange(other.slots_, nullptr);
      mask_ = std::exchange(other.mask_, 0);
      capacity_ = std::exchange(other.capacity_, 0);
      head_ = std::exchange(other.head_, 0);
      tail_ = std::exchange(other.tail_, 0);
    }
    return *this;
  }
  EventRing(const EventRing&) = delete;
  EventRing& operator=(const EventRing&) = delete;
  ~EventRing() { release(); }

  std::size_t size() const noexcept { return tail_ - head_; }
  std::size_t capacity() const noexcept { return capacity_; }
  bool empty() const noexcept { return tail_ == head_; }
  bool full() const noexcept { return tail_ - head_ == capacity_; }

  // Constructs one object after the last; false (and the arguments are not
  // touched) when the ring is full.
  template <class... Args>
  bool try_emplace_back(Args&&... args) {
    if (tail_ - head_ == capacity_) return false;
    // SAFETY: fewer than capacity_ (<= mask_ + 1) positions in [head_, tail_)
    // hold objects, so position tail_ maps to a slot inside the allocation
    // that none of them uses: it holds no object. tail_ grows only after the
    // constructor returned, so a throwing constructor leaves nothing
    // half-counted and the slot empty.
    ::new (static_cast<void*>(slots_ + (tail_ & mask_))) T(std::forward<Args>(args)...);
    ++tail_;
    return true;
  }

  // Moves the first object out and destroys it in its slot. Not empty. If
  // T's move constructor throws, the object stays first and nothing
  // changes. Touches head_ only, never tail_: a push made while the caller
  // handles the result does not race with this bookkeeping.
  T take_front() {
    assert(head_ != tail_ && "EventRing::take_front on an empty ring");
    T* const slot = slots_ + (head_ & mask_);
    // SAFETY: the ring is not empty, so position head_ holds the first
    // object. It is moved into the result before anything changes; then
    // destroyed and dropped from [head_, tail_) in one step that cannot
    // throw, so a slot is empty exactly when no position in [head_, tail_)
    // maps to it.
    T front(std::move(*slot));
    std::destroy_at(slot);
    ++head_;
    return front;
  }

 private:
  // Far below the point where rounding up to a power of two overflows.
  static constexpr std::size_t kMaxCapacity = std::size_t{1} << (8 * sizeof(std::size_t) - 2);

  void release() noexcept {
    if (slots_ == nullptr) return;
    if constexpr (!std::is_trivially_destructible_v<T>) {
      // SAFETY: exactly the positions [head_, tail_) hold objects, each in
      // its own slot; each is destroyed once, oldest first.
      for (std::size_t position = head_; position != tail_; ++position) std::destroy_at(slots_ + (position & mask_));
    }
    // SAFETY: slots_ came from allocate(mask_ + 1) of the same allocator,
    // and every object in it has just been destroyed.
    std::allocator<T>().deallocate(slots_, mask_ + 1);
    slots_ = nullptr;
    mask_ = 0;
    capacity_ = 0;
    head_ = 0;
    tail_ = 0;
  }

  T* slots_ = nullptr;
  std::size_t mask_ = 0;      // slots - 1
  std::size_t capacity_ = 0;  // at most this many objects at once
  // Positions: objects are at [head_, tail_), each in slot position & mask_.
  // They only grow (2^64 events do not happen).
  std::size_t head_ = 0;
  std::size_t tail_ = 0;
};

}  // namespace keel::internal
