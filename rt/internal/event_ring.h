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
// Slots [head, head + size) modulo the capacity hold objects; the others
// hold none.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
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
  explicit EventRing(std::size_t capacity)
      : slots_(capacity == 0 ? nullptr : std::allocator<T>().allocate(capacity)), capacity_(capacity) {}

  EventRing(EventRing&& other) noexcept
      : slots_(std::exchange(other.slots_, nullptr)),
        capacity_(std::exchange(other.capacity_, 0)),
        head_(std::exchange(other.head_, 0)),
        size_(std::exchange(other.size_, 0)),
        taken_(std::exchange(other.taken_, 0)) {}
  EventRing& operator=(EventRing&& other) noexcept {
    if (this != &other) {
      release();
      slots_ = std::exchange(other.slots_, nullptr);
      capacity_ = std::exchange(other.capacity_, 0);
      head_ = std::exchange(other.head_, 0);
      size_ = std::exchange(other.size_, 0);
      taken_ = std::exchange(other.taken_, 0);
    }
    return *this;
  }
  EventRing(const EventRing&) = delete;
  EventRing& operator=(const EventRing&) = delete;
  ~EventRing() { release(); }

  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return capacity_; }
  bool empty() const noexcept { return size_ == 0; }
  bool full() const noexcept { return size_ == capacity_; }
  // Objects taken from the front since construction: with size(), a
  // position in the stream that a caller can stop at while the ring grows
  // at the back under it.
  std::uint64_t taken() const noexcept { return taken_; }

  // Constructs one object after the last; false (and the arguments are not
  // touched) when the ring is full.
  template <class... Args>
  bool try_emplace_back(Args&&... args) {
    if (size_ == capacity_) return false;
    std::size_t back = head_ + size_;
    if (back >= capacity_) back -= capacity_;
    // SAFETY: size_ < capacity_, so `back` (head_ + size_ wrapped once; both
    // are below capacity_) is a slot inside the allocation outside
    // [head_, head_ + size_), which holds no object. size_ grows only after
    // the constructor returned, so a throwing constructor leaves nothing
    // half-counted and the slot empty.
    ::new (static_cast<void*>(slots_ + back)) T(std::forward<Args>(args)...);
    ++size_;
    return true;
  }

  // Moves the first object out and destroys it in its slot. Not empty. If
  // T's move constructor throws, the object stays first and nothing
  // changes.
  T take_front() {
    assert(size_ != 0 && "EventRing::take_front on an empty ring");
    // SAFETY: size_ != 0, so slot head_ holds the first object. It is moved
    // into the result before anything changes; then destroyed and dropped
    // from the count in one step that cannot throw, so the slot is empty
    // exactly when it is outside [head_, head_ + size_).
    T front(std::move(slots_[head_]));
    std::destroy_at(slots_ + head_);
    ++head_;
    if (head_ == capacity_) head_ = 0;
    --size_;
    ++taken_;
    return front;
  }

 private:
  void release() noexcept {
    if (slots_ == nullptr) return;
    if constexpr (!std::is_trivially_destructible_v<T>) {
      // SAFETY: exactly the size_ slots from head_ on (wrapping) hold
      // objects; each is destroyed once, oldest first.
      std::size_t index = head_;
      for (std::size_t k = 0; k < size_; ++k) {
        std::destroy_at(slots_ + index);
        if (++index == capacity_) index = 0;
      }
    }
    // SAFETY: slots_ came from allocate(capacity_) of the same allocator,
    // and every object in it has just been destroyed.
    std::allocator<T>().deallocate(slots_, capacity_);
    slots_ = nullptr;
    capacity_ = 0;
    head_ = 0;
    size_ = 0;
  }

  T* slots_ = nullptr;
  std::size_t capacity_ = 0;
  std::size_t head_ = 0;  // the first object's slot, when size_ != 0
  std::size_t size_ = 0;
  std::uint64_t taken_ = 0;
};

}  // namespace keel::internal
