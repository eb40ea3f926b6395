// Fan-out: one event, several handlers, each seeing it by `const E&`.
//
// keel::fan_out(h1, h2, ...) is static: the set of handlers is fixed in the
// type, every call is inlinable, nothing is allocated per event.
// keel::Broadcast<E> is dynamic: a list of boxed handlers that grows and
// shrinks at run time (one virtual call per handler). Both are handlers of `const E&` themselves, so
// they nest, box and sit wherever a handler does.
//
//   auto both = keel::fan_out(keel::handler(reg, update_book),    // const Quote&
//                             keel::handler(reg, log_quote),      // const Quote&
//                             keel::cloned(keel::handler(reg, keep_quote)));  // Quote by value: copied
//   both.run(world, quote);                     // update_book, then log_quote, then keep_quote
//
//   keel::Broadcast<Quote> subscribers;
//   keel::BroadcastToken t = subscribers.add(keel::handler(reg, log_quote));
//   subscribers.run(world, quote);              // every handler, in add order
//   subscribers.remove(t);
//
// Handlers run in order; an exception from one stops the rest for that event
// and propagates (wrap members in keel::catch_exceptions to isolate them).
// A handler that takes its event by value cannot share one event object:
// wrap it in keel::cloned, which copies the event for it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "rt/error.h"
#include "rt/handler.h"
#include "rt/internal/callable_name.h"
#include "rt/internal/erase_handler.h"
#include "rt/internal/serial.h"
#include "rt/internal/type_name.h"
#include "rt/param.h"
#include "rt/world.h"

namespace keel {
namespace internal {

template <class T, std::size_t Position>
struct FanOutArgumentIsNotAHandler {
  static_assert(dependent_false<T>,
                "keel: fan_out() and Broadcast<E>::add() take handlers (keel::handler(...), adapters, "
                "fan-outs, types of your own with event_type, run() and name() const, or a std::unique_ptr to a "
                "class derived from keel::Handler<const E&>); the offending type and its position are in "
                "'FanOutArgumentIsNotAHandler<T, Position>'. Build the function into a handler with "
                "keel::handler(registry, fn) first.");
  static constexpr bool ok = false;
};

template <class Shared, class Taken, std::size_t Position>
struct FanOutHandlerMustTakeConstRef {
  static_assert(dependent_false<Taken>,
                "keel: fan_out() and Broadcast<E> hand every handler the same event as `const E&`, and this "
                "handler takes its event otherwise; the shared event, the handler's event and its position "
                "are in 'FanOutHandlerMustTakeConstRef<const E&, Event, Position>'. Wrap a handler that "
                "takes E by value in keel::cloned(h), which copies the event for it; a handler of E&& or "
                "E& cannot share the event, and handlers of another event type cannot join.");
  static constexpr bool ok = false;
};

// The messages for the Position-th member of a fan-out of `const E&` (the
// shared ones in rt/internal/erase_handler.h, these two with the position).
template <class E, std::size_t Position>
struct FanOutRejections : FanOutCommonRejections {
  template <class Event>
  using HandlerOfAnotherEvent = FanOutHandlerMustTakeConstRef<const E&, Event, Position>;
  template <class T>
  using NeitherHandlerNorFunction = FanOutArgumentIsNotAHandler<T, Position>;
};

// What fan_out() and Broadcast<E>::add() take (rt/internal/erase_handler.h):
// handlers of `const E&` only (one event object is shared, so a by-value
// handler must say it wants a copy, with keel::cloned), and no functions
// (there is no registry to build them with).
template <class E, std::size_t Position, class Api>
struct FanOutSlot {
  using Stored = const E&;
  using Rejections = FanOutRejections<E, Position>;
  static constexpr std::string_view kApi = Api::kName;
  static constexpr bool kAdaptsSpelling = false;
  static constexpr bool kBuildsFunctions = false;
};
struct FanOutApi {
  static constexpr std::string_view kName = "fan_out()";
};
struct BroadcastAddApi {
  static constexpr std::string_view kName = "Broadcast::add()";
};

template <class E, class... Hs>
constexpr bool fan_out_members_ok() {
  return []<std::size_t... I>(std::index_sequence<I...>) {
    return (accepts_handler<FanOutSlot<E, I + 1, FanOutApi>, Hs>() && ... && true);
  }(std::index_sequence_for<Hs...>{});
}

// "fan_out(on_a, on_b)", interned (cold path: once per fan_out()).
inline std::string_view fan_out_name(std::initializer_list<std::string_view> members) {
  std::string name = "fan_out(";
  const char* separator = "";
  for (const std::string_view member : members) {
    name += separator;
    name += member;
    separator = ", ";
  }
  name += ')';
  return intern_name(name);
}

// The static fan-out; built by keel::fan_out().
template <class E, class... Hs>
class FanOut {
 public:
  using event_type = const E&;

  explicit FanOut(Hs... handlers) : handlers_(std::move(handlers)...) {
    std::apply([](const Hs&... h) { (reject_empty_boxed(h, "fan_out()"), ...); }, handlers_);
    name_ = std::apply([](const Hs&... h) { return fan_out_name({HandlerAccess<Hs>::get(h).name()...}); },
                       handlers_);
  }

  // Runs each handler with the same event, in the order given to fan_out().
  void run(World& world, const E& event) {
    std::apply([&](Hs&... h) { (HandlerAccess<Hs>::get(h).run(world, event), ...); }, handlers_);
  }

  // "fan_out(on_a, on_b)".
  std::string_view name() const noexcept { return name_; }

  // The I-th handler, e.g. to reach a callback's context.
  template <std::size_t I>
  auto& handler() noexcept {
    return std::get<I>(handlers_);
  }

  static constexpr std::size_t size() noexcept { return sizeof...(Hs); }

 private:
  std::tuple<Hs...> handlers_;
  std::string_view name_;
};

}  // namespace internal

// fan_out() with no handler has no event type to offer.
template <class None = void>
void fan_out() {
  static_assert(internal::dependent_false<None>, "keel: fan_out() needs at least one handler.");
}

// A handler of `const E&` that runs h1, h2, ... in order with the same
// event. Each handler must take `const E&` (the E of the first handler):
// a concrete handler, an adapter, another fan-out, a Broadcast<E>, a value
// of a type of your own (event_type, run, name() const), or a
// std::unique_ptr<D> for a class D derived from Handler<const E&>. A
// by-value handler is a compile-time error that points to keel::cloned. The
// fan-out owns its handlers (taken by value: move them in). Per event: no allocation, no virtual call (except
// inside boxed members).
template <class H1, class... Hs>
auto fan_out(H1 first, Hs... rest) {
  using E = std::remove_cvref_t<typename internal::ArgumentEvent<H1>::type>;
  if constexpr (!internal::fan_out_members_ok<E, H1, Hs...>()) {
    return internal::RejectedHandler<const E&>{};  // a static_assert has explained the problem
  } else {
    return internal::FanOut<E, H1, Hs...>(std::move(first), std::move(rest)...);
  }
}

// What Broadcast<E>::add() returns, to remove that handler later. Unique in
// the process: a token never names a handler of another Broadcast.
class BroadcastToken {
 public:
  constexpr BroadcastToken() noexcept = default;
  explicit operator bool() const noexcept { return value_ != 0; }
  friend bool operator==(BroadcastToken, BroadcastToken) = default;

 private:
  template <class E>
  friend class Broadcast;
  explicit constexpr BroadcastToken(std::uint64_t value) noexcept : value_(value) {}
  std::uint64_t value_ = 0;
};

// A dynamic fan-out: a list of handlers of `const E&`, run in add order, that
// grows and shrinks at run time. One virtual call per handler per event.
//
// add() and remove() may be called while run() is on the stack (by a member
// handler that reaches this Broadcast): a handler added then first runs on
// the next event; a handler removed then does not run again, and is
// destroyed when the outermost run() returns.
template <class E>
class Broadcast {
 public:
  using event_type = const E&;

  Broadcast() noexcept : name_(internal::type_name<Broadcast>()) {}
  // A name for error messages and name(), e.g. "quote subscribers".
  explicit Broadcast(std::string_view name) : name_(internal::intern_name(name)) {}

  Broadcast(Broadcast&&) noexcept = default;
  Broadcast& operator=(Broadcast&&) noexcept = default;

  // Adds a handler of `const E&`: a concrete handler or a value of a type of
  // your own (event_type, run, name() const), boxed here (one allocation),
  // or a std::unique_ptr<D> for a class D derived from Handler<const E&>
  // (kept as it is; an empty one throws ConfigError). A handler of E by
  // value is a compile-time error pointing to keel::cloned. Cold path.
  template <class H>
  BroadcastToken add(H handler) {
    using Slot = internal::FanOutSlot<E, 1, internal::BroadcastAddApi>;
    if constexpr (!internal::accepts_handler<Slot, H>()) {
      return BroadcastToken();  // a static_assert has explained the problem
    } else {
      return push(internal::erase_boxed<Slot>(std::move(handler)));
    }
  }

  // Removes the handler `token` names. False when this Broadcast holds no
  // such handler (removed already, or a token of another Broadcast).
  // O(handlers).
  bool remove(BroadcastToken token) {
    const auto it = find(token);
    if (it == entries_.end()) return false;
    --live_;
    if (depth_ > 0) {
      it->removed = true;  // the handler may be the one running: destroyed after run()
      ++pending_removals_;
    } else {
      entries_.erase(it);
    }
    return true;
  }

  // Whether `token` names a handler that this Broadcast still holds.
  bool contains(BroadcastToken token) const { return find(token) != entries_.end(); }

  // How many handlers are held (removed ones excluded).
  std::size_t size() const noexcept { return live_; }
  bool empty() const noexcept { return live_ == 0; }

  // Runs every handler with the event, in add order. Hot path: one virtual
  // call per handler.
  void run(World& world, const E& event) {
    ++depth_;
    const RunScope scope{this};
    const std::size_t count = entries_.size();  // handlers added during the run wait for the next event
    for (std::size_t i = 0; i < count; ++i) {
      if (entries_[i].removed) continue;
      // add() may reallocate entries_ during this call; the handler object
      // itself does not move, and entries_[i] is not used after the call.
      entries_[i].handler->run(world, event);
    }
  }

  std::string_view name() const noexcept { return name_; }

 private:
  struct Entry {
    std::uint64_t id;
    std::unique_ptr<Handler<const E&>> handler;
    bool removed = false;
  };

  // Applies removals deferred during run(), once the outermost run() ends.
  struct RunScope {
    Broadcast* self;
    ~RunScope() {
      if (--self->depth_ == 0 && self->pending_removals_ > 0) {
        std::erase_if(self->entries_, [](const Entry& e) { return e.removed; });
        self->pending_removals_ = 0;
      }
    }
  };

  BroadcastToken push(std::unique_ptr<Handler<const E&>> handler) {
    // Serials increase, so entries_ stays sorted by id.
    const std::uint64_t id = internal::next_serial();
    entries_.push_back(Entry{id, std::move(handler)});
    ++live_;
    return BroadcastToken(id);
  }

  template <class Self>
  static auto find_in(Self& entries, BroadcastToken token) {
    const auto it = std::lower_bound(entries.begin(), entries.end(), token.value_,
                                     [](const Entry& e, std::uint64_t id) { return e.id < id; });
    if (it == entries.end() || it->id != token.value_ || it->removed) return entries.end();
    return it;
  }
  auto find(BroadcastToken token) { return find_in(entries_, token); }
  auto find(BroadcastToken token) const { return find_in(entries_, token); }

  std::vector<Entry> entries_;  // sorted by id, i.e. in add order
  std::size_t live_ = 0;
  std::size_t pending_removals_ = 0;
  int depth_ = 0;  // nesting of run() calls
  std::string_view name_;
};

}  // namespace keel
