// Type keys without RTTI.
//
// TypeKey: the address of a per-type tag, a constant that identifies T in the
// Registry's hash map (cold path).
// type_index<T>(): a small dense number handed out on first use, so that
// World::resource<T>() is an array index instead of a hash lookup (hot path).
#pragma once

#include <atomic>
#include <cstddef>

namespace keel::internal {

class TypeKey {
 public:
  template <class T>
  static TypeKey of() noexcept {
    return TypeKey(&Tag<T>::id);
  }
  friend bool operator==(TypeKey, TypeKey) = default;
  template <class H>
  friend H AbslHashValue(H h, TypeKey key) {
    return H::combine(std::move(h), key.id_);
  }

 private:
  template <class T>
  struct Tag {
    static constexpr char id = 0;
  };
  explicit TypeKey(const void* id) noexcept : id_(id) {}
  const void* id_;
};

inline std::size_t next_type_index() noexcept {
  static std::atomic<std::size_t> counter{0};
  // SAFETY: relaxed is enough: only uniqueness of the returned value matters,
  // and fetch_add is atomic whatever the order; the function-local static in
  // type_index<T>() publishes the result to other threads.
  return counter.fetch_add(1, std::memory_order_relaxed);
}

// Dense, process-wide index of T. The first call assigns it; later calls are
// one guarded load.
template <class T>
std::size_t type_index() noexcept {
  static const std::size_t index = next_type_index();
  return index;
}

}  // namespace keel::internal
