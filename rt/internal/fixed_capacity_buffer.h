// FixedCapacityBuffer: storage for up to `capacity` objects, allocated once
// and never grown, with the objects constructed and destroyed in place. The
// raw-memory half of keel::BatchPipeline: unlike std::vector it has no
// reallocation path, so a bulk fill is a plain loop the compiler can
// vectorize, and a pointer into it stays valid for the buffer's life.
//
//   FixedCapacityBuffer<Msg> buffer(1024);
//   buffer.emplace_back(msg);                                   // false when full
//   buffer.fill(n, [&](std::size_t k) { return decode(k); });   // up to n more
//   for (Msg& m : buffer.items()) handle(m);
//   buffer.drop_front(buffer.size());                           // destroys them
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <new>
#include <span>
#include <type_traits>
#include <utility>

namespace keel::internal {

// Types whose objects may be written as raw bytes (by the kernel, memcpy)
// into storage from operator new. A trivially copyable type has a trivial
// copy constructor and destructor, so it is an implicit-lifetime type and
// such storage implicitly holds its objects ([intro.object]/10-13).
template <class T>
inline constexpr bool is_byte_writable = std::is_trivially_copyable_v<T>;

template <class T>
class FixedCapacityBuffer {
 public:
  explicit FixedCapacityBuffer(std::size_t capacity)
      : slots_(capacity == 0 ? nullptr : std::allocator<T>().allocate(capacity)), capacity_(capacity) {}

  FixedCapacityBuffer(FixedCapacityBuffer&& other) noexcept
      : slots_(std::exchange(other.slots_, nullptr)),
        size_(std::exchange(other.size_, 0)),
        capacity_(std::exchange(other.capacity_, 0)) {}
  FixedCapacityBuffer& operator=(FixedCapacityBuffer&& other) noexcept {
    if (this != &other) {
      release();
      slots_ = std::exchange(other.slots_, nullptr);
      size_ = std::exchange(other.size_, 0);
      capacity_ = std::exchange(other.capacity_, 0);
    }
    return *this;
  }
  FixedCapacityBuffer(const FixedCapacityBuffer&) = delete;
  FixedCapacityBuffer& operator=(const FixedCapacityBuffer&) = delete;
  ~FixedCapacityBuffer() { release(); }

  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return capacity_; }
  std::size_t spare() const noexcept { return capacity_ - size_; }
  T* data() noexcept { return slots_; }
  const T* data() const noexcept { return slots_; }
  std::span<T> items() noexcept { return {slots_, size_}; }
  std::span<const T> items() const noexcept { return {slots_, size_}; }

  // Constructs one object after the last; false (and the arguments are not
  // touched) when the buffer is full.
  template <class... Args>
  bool emplace_back(Args&&... args) {
    if (size_ == capacity_) return false;
    // SAFETY: size_ < capacity_, so the slot is inside the allocation and
    // holds no object (slots [size_, capacity_) are always empty). size_
    // grows only after the constructor returned, so a throwing constructor
    // leaves nothing half-counted.
    ::new (static_cast<void*>(slots_ + size_)) T(std::forward<Args>(args)...);
    ++size_;
    return true;
  }

  // Constructs generate(k) for k = 0, 1, ... after the last object, up to
  // `count` or until full; returns how many. One bounds check for the lot.
  template <class Generate>
  std::size_t fill(std::size_t count, Generate&& generate) {
    const std::size_t n = std::min(count, spare());
    T* const first = slots_ + size_;
    if constexpr (std::is_nothrow_invocable_v<Generate&, std::size_t> &&
                  std::is_nothrow_constructible_v<T, std::invoke_result_t<Generate&, std::size_t>>) {
      for (std::size_t k = 0; k < n; ++k) {
        // SAFETY: k < n <= spare(), so first + k is an empty slot inside
        // the allocation; nothing can throw, so size_ is counted once after.
        ::new (static_cast<void*>(first + k)) T(generate(k));
      }
      size_ += n;
    } else {
      std::size_t k = 0;
      try {
        for (; k < n; ++k) {
          // SAFETY: as above; on a throw the k objects already built are
          // counted (below) and the slot that threw holds nothing.
          ::new (static_cast<void*>(first + k)) T(generate(k));
        }
      } catch (...) {
        size_ += k;
        throw;
      }
      size_ += n;
    }
    return n;
  }

  // The empty slots, for writing raw bytes into (recvmmsg, memcpy), then
  // commit(n) counts the first n of them as objects.
  std::span<T> unfilled() noexcept
    requires is_byte_writable<T>
  {
    // SAFETY: the allocation came from operator new, which implicitly
    // creates objects of implicit-lifetime types (T is trivially copyable),
    // so bytes written there are T objects; they need no destructor.
    return {slots_ + size_, capacity_ - size_};
  }
  void commit(std::size_t count) noexcept
    requires is_byte_writable<T>
  {
    size_ += std::min(count, spare());
  }

  // Destroys the first `count` objects (all of them when count >= size())
  // and moves the rest to the front, in order.
  void drop_front(std::size_t count) noexcept {
    static_assert(std::is_nothrow_move_constructible_v<T> || std::is_trivially_copyable_v<T>,
                  "keel: a batch item type must be nothrow move constructible, so a partly run batch can keep "
                  "the items it has not run.");
    if (count == 0) return;  // moving each item onto itself would build over a live object
    if (count >= size_) {
      destroy(0, size_);
      size_ = 0;
      return;
    }
    destroy(0, count);
    for (std::size_t k = count; k < size_; ++k) {
      // SAFETY: slot k - count was emptied (destroyed, or moved from and
      // destroyed in the previous turn); slot k holds an object, which is
      // moved down and then destroyed, so each slot holds at most one.
      ::new (static_cast<void*>(slots_ + (k - count))) T(std::move(slots_[k]));
      std::destroy_at(slots_ + k);
    }
    size_ -= count;
  }

 private:
  void destroy(std::size_t from, std::size_t to) noexcept {
    if constexpr (!std::is_trivially_destructible_v<T>) {
      // SAFETY: [from, to) is within [0, size_), where every slot holds an
      // object; the caller shrinks size_ right after.
      for (std::size_t k = from; k < to; ++k) std::destroy_at(slots_ + k);
    }
  }
  void release() noexcept {
    if (slots_ == nullptr) return;
    destroy(0, size_);
    // SAFETY: slots_ came from allocate(capacity_) of the same allocator
    // and every object in it has just been destroyed.
    std::allocator<T>().deallocate(slots_, capacity_);
    slots_ = nullptr;
    size_ = 0;
    capacity_ = 0;
  }

  T* slots_ = nullptr;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

}  // namespace keel::internal
