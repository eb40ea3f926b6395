// InlineStorage: a fixed-size, suitably aligned buffer holding one object of
// a type chosen at run time, with a table of functions that know its type.
// The raw-memory half of keel::InlineHandler.
#pragma once

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace keel::internal {

template <std::size_t Bytes>
class InlineStorage {
 public:
  static constexpr std::size_t kAlign = alignof(std::max_align_t);

  template <class T>
  static constexpr bool fits = sizeof(T) <= Bytes && alignof(T) <= kAlign && std::is_nothrow_move_constructible_v<T>;

  template <class T, class... Args>
  T* construct(Args&&... args) {
    static_assert(fits<T>);
    // SAFETY: bytes_ is Bytes long and aligned to kAlign; fits<T> checked
    // that T needs no more. The owner (InlineHandler) guarantees no object
    // lives here now: it calls construct only on empty storage.
    return ::new (static_cast<void*>(bytes_)) T(std::forward<Args>(args)...);
  }

  template <class T>
  T* get() noexcept {
    // SAFETY: called only through the operation table made for T, which the
    // owner installs right after construct<T>() and removes on destroy<T>().
    return std::launder(reinterpret_cast<T*>(bytes_));
  }
  template <class T>
  const T* get() const noexcept {
    // SAFETY: as above.
    return std::launder(reinterpret_cast<const T*>(bytes_));
  }

  template <class T>
  void destroy() noexcept {
    // SAFETY: as for get<T>(); the owner forgets T's operation table right
    // after, so the object is destroyed once and never read again.
    get<T>()->~T();
  }

  // Moves the T in `from` into this (empty) storage and destroys the source.
  template <class T>
  void relocate_from(InlineStorage& from) noexcept {
    // SAFETY: `from` holds a T (its owner's table says so) and this storage
    // is empty; T's move is noexcept (fits<T>), so no state is left half-moved.
    // The owner moves the table to this storage and clears the source's.
    construct<T>(std::move(*from.get<T>()));
    from.destroy<T>();
  }

 private:
  alignas(kAlign) std::byte bytes_[Bytes];
};

}  // namespace keel::internal
