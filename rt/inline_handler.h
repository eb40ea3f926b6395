// keel::InlineHandler<E, Bytes>: a type-erased handler stored in place, with
// no heap allocation. For handler tables and slabs where boxed()'s
// allocation and pointer chase matter. A handler larger than Bytes (or
// over-aligned, or with a throwing move) is a compile-time error.
//
//   keel::InlineHandler<const Quote&, 64> slot = keel::handler(reg, on_quote);
//   slot.run(world, quote);        // one indirect call
//   slot.name();                   // "on_quote"
//   std::vector<keel::InlineHandler<const Quote&>> table;  // movable, not copyable
#pragma once

#include <cassert>
#include <cstddef>
#include <string_view>
#include <type_traits>
#include <utility>

#include "rt/handler.h"
#include "rt/internal/inline_storage.h"

namespace keel {
namespace internal {

template <std::size_t Size, std::size_t Align, std::size_t Bytes>
struct HandlerDoesNotFitInlineHandler {
  static_assert(Size == 0 && Bytes == 0,
                "keel: this handler does not fit its InlineHandler<E, Bytes>: its size and alignment are the "
                "first two numbers in 'HandlerDoesNotFitInlineHandler<Size, Align, Bytes>', Bytes the third. "
                "Raise Bytes, capture less, or use keel::boxed(). (Handlers must also be nothrow-movable.)");
  static constexpr bool ok = false;
};

}  // namespace internal

template <class E, std::size_t Bytes = 64>
class InlineHandler {
  using Storage = internal::InlineStorage<Bytes>;

 public:
  using event_type = E;

  InlineHandler() noexcept = default;

  template <class H>
    requires(!std::is_same_v<std::remove_cvref_t<H>, InlineHandler> && HandlerLike<std::remove_cvref_t<H>>)
  InlineHandler(H&& handler) {  // NOLINT: implicit, like std::function
    using D = std::remove_cvref_t<H>;
    static_assert(std::is_same_v<typename D::event_type, E>,
                  "keel: InlineHandler<E> holds handlers of event E; this handler's event type differs (use "
                  "keel::by_ref or keel::cloned to bridge E and const E&).");
    if constexpr (!Storage::template fits<D>) {
      // Instantiating it fires its static_assert, the one error reported.
      (void)internal::HandlerDoesNotFitInlineHandler<sizeof(D), alignof(D), Bytes>::ok;
    } else {
      storage_.template construct<D>(std::forward<H>(handler));
      ops_ = &kOps<D>;
    }
  }

  InlineHandler(InlineHandler&& other) noexcept { take(other); }
  InlineHandler& operator=(InlineHandler&& other) noexcept {
    if (this != &other) {
      reset();
      take(other);
    }
    return *this;
  }
  InlineHandler(const InlineHandler&) = delete;
  InlineHandler& operator=(const InlineHandler&) = delete;
  ~InlineHandler() { reset(); }

  // Runs the held handler. Precondition: not empty (checked when assertions are on).
  void run(World& world, E event) {
    assert(ops_ != nullptr && "keel: InlineHandler::run on an empty InlineHandler");
    ops_->run(storage_, world, std::forward<E>(event));
  }
  std::string_view name() const noexcept { return ops_ ? ops_->name(storage_) : std::string_view("<empty>"); }
  explicit operator bool() const noexcept { return ops_ != nullptr; }

  void reset() noexcept {
    if (ops_) {
      ops_->destroy(storage_);
      ops_ = nullptr;
    }
  }

 private:
  struct Ops {
    void (*run)(Storage&, World&, E);
    std::string_view (*name)(const Storage&) noexcept;
    void (*destroy)(Storage&) noexcept;
    void (*relocate)(Storage& to, Storage& from) noexcept;
  };

  // SAFETY: ops_ is &kOps<H> exactly while storage_ holds an H: set right
  // after construct<H>, moved with the object by take(), cleared by reset()
  // after destroy. Every entry therefore reads the type that is there.
  template <class H>
  static constexpr Ops kOps{
      [](Storage& s, World& w, E e) { s.template get<H>()->run(w, std::forward<E>(e)); },
      [](const Storage& s) noexcept -> std::string_view { return s.template get<H>()->name(); },
      [](Storage& s) noexcept { s.template destroy<H>(); },
      [](Storage& to, Storage& from) noexcept { to.template relocate_from<H>(from); },
  };

  void take(InlineHandler& other) noexcept {
    if (other.ops_) {
      other.ops_->relocate(storage_, other.storage_);
      ops_ = other.ops_;
      other.ops_ = nullptr;
    }
  }

  const Ops* ops_ = nullptr;
  Storage storage_;
};

}  // namespace keel
