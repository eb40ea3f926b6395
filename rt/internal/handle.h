// Generation-checked handles: the small, trivially copyable names Keel's
// drivers hand out for what they keep in slots (rt/internal/slab.h) — a
// data source or a reactor (keel::DataSource, keel::ReactorToken), a timer
// (keel::TimerToken), a watched fd (keel::Watch).
//
// A handle is a slot index and the generation the slot had when the handle
// was made. Freeing a slot bumps its generation, so a handle kept past the
// free stops matching, also once the slot serves something new; generation
// 0 is never live, so a default handle names nothing. Equality compares
// index and generation, and nothing else.
//
// Handle<Tag> is the one class behind the four public names, which are
// aliases of it. The Tag keeps them apart (a TimerToken never equals a
// Watch) and names the Owner: the driver whose slots the handles index,
// and the only code that makes handles or reads their numbers. A tag with
// `static constexpr bool kAbslHash = true` lets its handle key an absl hash
// container (DataSource, ReactorToken); the others cannot be hashed.
//
//   namespace internal {
//   struct TimerTokenTag {
//     using Owner = TimerWheel;
//   };
//   }  // namespace internal
//   using TimerToken = internal::Handle<internal::TimerTokenTag>;
//
// Aliases, not classes derived from Handle: GCC can give a store through a
// base-class subobject the alias set of the whole enclosing object, and
// does for the token TimerWheel::fire stores on every timer, which changes
// that function's code. With the numbers in the handle's own class the
// drivers compile as they do with a hand-written pair.
#pragma once

#include <cstdint>
#include <utility>

namespace keel::internal {

// True when Tag says `static constexpr bool kAbslHash = true`.
template <class Tag>
inline constexpr bool kAbslHashable = requires { requires Tag::kAbslHash; };

template <class Tag>
class Handle {
 public:
  constexpr Handle() noexcept = default;

  // False for a default handle. A stale handle still tests true: only its
  // owner can tell, by comparing generations.
  explicit operator bool() const noexcept { return generation_ != 0; }

  friend bool operator==(Handle, Handle) = default;

  template <class H>
    requires(kAbslHashable<Tag>)
  friend H AbslHashValue(H h, Handle handle) {
    return H::combine(std::move(h), handle.index_, handle.generation_);
  }

 private:
  friend typename Tag::Owner;
  constexpr Handle(std::uint32_t index, std::uint32_t generation) noexcept : index_(index), generation_(generation) {}

  std::uint32_t index_ = 0;
  std::uint32_t generation_ = 0;
};

}  // namespace keel::internal
