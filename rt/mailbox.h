// Mailboxes: typed events handed to one reactor, which handles them in its
// next run. A reactor's context owns a keel::Inbox<E> (a bounded FIFO,
// allocated once); ReactorNotify::send() queues an event there and wakes
// that reactor for the next pass; the reactor drains the inbox when it runs.
//
//   struct Book {
//     keel::Inbox<Order> inbox{256};
//   };
//   void on_orders(Book& book, keel::ResMut<Fills> fills) {
//     book.inbox.drain([&](Order& o) { fills->apply(o); });   // arrival order
//   }
//   keel::ReactorToken t = rx.spawn(Book{}, world.registry(), on_orders).token();
//   keel::Address<Order> to_btc = rx.address(t, &Book::inbox);   // once: cold
//   keel::Delivery d = rx.send(to_btc, order);                  // hot: O(1)
//   std::size_t n = rx.publish(src, &Book::inbox, order);       // each Book subscribed to src
//
// Use it when the reactor needs the events themselves (orders, fills,
// commands), not only the news that something changed: for that, mark a
// data source, which costs less and coalesces. Unlike a channel (a tokio
// mpsc, a std::deque behind a mutex), an inbox is single-threaded, never
// grows and never blocks: a full inbox refuses the newest event and says so
// (Delivery::full), it never overwrites queued ones. Events still queued
// when the reactor is removed are destroyed with its context.
//
// Implementation overview: Address<E> is the inbox's address plus the
// reactor's token; send() checks the token's generation (so a removed
// reactor's freed context is never reached), builds the event in the
// inbox's internal::EventRing (rt/internal/event_ring.h) and puts the
// reactor on ReactorNotify's wake list (rt/reactor.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>

#include "rt/error.h"
#include "rt/internal/event_ring.h"
#include "rt/internal/reactor_slab.h"
#include "rt/internal/type_name.h"
#include "rt/reactor.h"

namespace keel {

// What send() did with an event. [[nodiscard]] (see its declaration in
// rt/reactor.h): a refused event must not go unnoticed.
enum class Delivery : std::uint8_t {
  delivered,  // queued; the reactor runs in the next pass
  full,       // the inbox is at capacity: refused, counted in dropped()
  gone,       // the reactor was removed, or the Address is empty
};

namespace internal {

// Instantiated for an Inbox<E> whose E is not a plain object type.
template <class E>
struct InboxHoldsEventsByValue {
  static_assert(dependent_false<E>,
                "keel: an Inbox holds its events by value: the event type (the type in "
                "'InboxHoldsEventsByValue<E>') must be a non-const object type, not a reference, an array or a "
                "const type. Send pointers or std::unique_ptr to share or hand over objects.");
  static constexpr bool ok = false;
};

// Instantiated for an Inbox<E> whose E cannot be moved.
template <class E>
struct InboxEventMustBeMoveConstructible {
  static_assert(dependent_false<E>,
                "keel: an Inbox's event type (the type in 'InboxEventMustBeMoveConstructible<E>') must be move "
                "constructible: drain() moves each event out of the inbox before handing it over.");
  static constexpr bool ok = false;
};

// Instantiated for drain(fn) with an fn that cannot take the event.
template <class E, class Fn>
struct DrainFunctionMustTakeTheEvent {
  static_assert(dependent_false<E>,
                "keel: Inbox<E>::drain(fn) calls fn with each event: fn (the second type in "
                "'DrainFunctionMustTakeTheEvent<E, Fn>') must take one E, as E&, const E&, E&& or by value.");
  static constexpr bool ok = false;
};

template <class E>
constexpr bool inbox_event_fits() {
  if constexpr (!std::is_object_v<E> || std::is_const_v<E> || std::is_volatile_v<E> || std::is_array_v<E>) {
    return InboxHoldsEventsByValue<E>::ok;
  } else if constexpr (!std::is_move_constructible_v<E>) {
    return InboxEventMustBeMoveConstructible<E>::ok;
  } else {
    return true;
  }
}

}  // namespace internal

// A bounded FIFO of events for the reactor whose context holds it. Storage
// for `capacity` events (rounded up to a power of two) is allocated by the
// constructor and never grown; at most `capacity` are queued.
// Events arrive only through ReactorNotify::send() and publish(), which
// also wake the reactor; the reactor takes them with drain().
//
// Movable (so a context holding it can be given to spawn()); a moved-from
// inbox has capacity 0 and refuses everything. Not copyable.
template <class E>
class Inbox {
  // When false, a static_assert in a helper above has explained why.
  static constexpr bool kFits = internal::inbox_event_fits<E>();

 public:
  // Capacity 0 throws ConfigError naming E. Allocates once (may throw
  // std::bad_alloc).
  explicit Inbox(std::size_t capacity) : ring_(checked(capacity)) {}

  Inbox(Inbox&& other) noexcept : ring_(std::move(other.ring_)), dropped_(std::exchange(other.dropped_, 0)) {
    ++other.drains_;  // a drain running on `other` stops
  }
  // Takes `other`'s events (destroying this inbox's) and its dropped()
  // count. This inbox stays tied to the reactor it belongs to.
  Inbox& operator=(Inbox&& other) noexcept {
    if (this != &other) {
      ring_ = std::move(other.ring_);
      dropped_ = std::exchange(other.dropped_, 0);
      ++drains_;  // a drain running on either inbox stops
      ++other.drains_;
    }
    return *this;
  }
  Inbox(const Inbox&) = delete;
  Inbox& operator=(const Inbox&) = delete;
  ~Inbox() = default;  // destroys the events still queued

  // Calls fn with each event queued when drain() began, oldest first, and
  // destroys each right after its call; returns how many. fn takes E&,
  // const E&, E&& or E. Each event is moved out of the inbox before its
  // call, so fn may send to this inbox (the event waits for the next drain,
  // and the reactor is woken for the next pass), drain it again (the inner
  // drain takes the rest, and the outer one stops) or move it (the drain
  // stops). fn must not destroy the inbox: when draining it from outside
  // its reactor, fn must not remove that reactor outside a pass.
  //
  // If fn throws, the event it was given is destroyed (consumed), the rest
  // stay queued in order, and the exception propagates; the reactor is
  // woken for the next pass so that they are handled then.
  template <class Fn>
  std::size_t drain(Fn&& fn) {
    constexpr bool by_lvalue = std::is_invocable_v<Fn&, E&>;
    if constexpr (!by_lvalue && !std::is_invocable_v<Fn&, E&&>) {
      return static_cast<std::size_t>(internal::DrainFunctionMustTakeTheEvent<E, std::remove_cvref_t<Fn>>::ok);
    } else {
      return drain_with<by_lvalue>(fn);
    }
  }

  std::size_t size() const noexcept { return ring_.size(); }
  bool empty() const noexcept { return ring_.empty(); }
  std::size_t capacity() const noexcept { return ring_.capacity(); }
  // Events refused because the inbox was full, since it was constructed.
  std::uint64_t dropped() const noexcept { return dropped_; }

 private:
  friend class ReactorNotify;

  template <bool kByLvalue, class Fn>
  std::size_t drain_with(Fn& fn) {
    std::size_t remaining = ring_.size();
    const std::uint32_t this_drain = ++drains_;
    std::size_t handled = 0;
    while (remaining != 0) {
      E event = ring_.take_front();  // if the move throws, the event stays first
      --remaining;
      ++handled;
      try {
        if constexpr (kByLvalue) {
          static_cast<void>(std::invoke(fn, event));
        } else {
          static_cast<void>(std::invoke(fn, std::move(event)));
        }
      } catch (...) {
        if (!ring_.empty() && notify_ != nullptr) notify_->wake_after_failed_drain(owner_);
        throw;
      }
      // A drain begun inside fn took every event this one had left; an
      // assignment replaced them, a move took them away. Short of those, fn
      // can only have added events, behind the ones this drain is taking.
      if (drains_ != this_drain) [[unlikely]]
        break;
    }
    return handled;
  }

  static std::size_t checked(std::size_t capacity) {
    if (capacity == 0) [[unlikely]] {
      std::string message = "keel: Inbox<";
      message += internal::type_name<E>();
      message += "> was given capacity 0; an inbox holds at least one event";
      throw ConfigError(message);
    }
    return capacity;
  }

  // Queues one event, or counts it as dropped when full (the argument is
  // then not touched).
  template <class Arg>
  bool try_push(Arg&& event) {
    if (ring_.try_emplace_back(std::forward<Arg>(event))) [[likely]]
      return true;
    ++dropped_;
    return false;
  }

  // Called by address() and publish(), on the inbox inside the reactor's
  // context: the reactor to wake if a drain throws with events left. Not
  // carried by moves: it names where this object is, not what it holds.
  void tie(ReactorNotify& notify, ReactorToken owner) noexcept {
    notify_ = &notify;
    owner_ = owner;
  }

  internal::EventRing<std::conditional_t<kFits, E, int>> ring_;
  std::uint64_t dropped_ = 0;
  ReactorNotify* notify_ = nullptr;
  ReactorToken owner_{};
  // Counts drain() calls, moves and assignments, so that a drain sees when
  // fn began another on this inbox or moved its events.
  std::uint32_t drains_ = 0;
};

// Where send() delivers: one inbox of one reactor. Small (16 bytes) and
// trivially copyable; get one from ReactorNotify::address(). Default-
// constructed: no address (false; send() returns gone). Once its reactor is
// removed the Address is stale: it still tests true, and send() returns
// gone, also after the reactor's slot is reused.
template <class E>
class Address {
 public:
  constexpr Address() noexcept = default;

  explicit operator bool() const noexcept { return inbox_ != nullptr; }
  // The reactor the inbox belongs to (for remove(), contains()).
  ReactorToken reactor() const noexcept { return reactor_; }

  friend bool operator==(const Address&, const Address&) = default;

 private:
  friend class ReactorNotify;
  Address(Inbox<E>* inbox, ReactorToken reactor) noexcept : inbox_(inbox), reactor_(reactor) {}

  // Valid while the reactor is live: the context lives inside the reactor
  // object, which never moves; send() checks reactor_ before using it.
  Inbox<E>* inbox_ = nullptr;
  ReactorToken reactor_{};
};

// --- ReactorNotify's mailbox members (declared in rt/reactor.h) ----------------

template <class Ctx, class E>
Address<E> ReactorNotify::address(ReactorToken token, Inbox<E> Ctx::*member) {
  if (member == nullptr) [[unlikely]]
    throw_null_member();
  if (!contains(token)) return {};
  Ctx* const context = internal::context_cast<Ctx>(slab_.get(token.index_));  // checks the type
  if (context == nullptr) [[unlikely]]
    throw_not_the_context(internal::type_name<Ctx>(), token);
  Inbox<E>& inbox = context->*member;
  inbox.tie(*this, token);
  return Address<E>(&inbox, token);
}

template <class E, class Arg>
[[gnu::always_inline]] inline bool ReactorNotify::deliver(Inbox<E>& inbox, std::uint32_t index,
                                                          std::uint32_t generation, Arg&& event) {
  if (sent_epoch_[index] == epoch_) return inbox.try_push(std::forward<Arg>(event));  // woken already
  if (dirty_.size() == dirty_.capacity()) [[unlikely]]
    grow_wake_list();  // may throw: nothing has changed yet
  if (!inbox.try_push(std::forward<Arg>(event))) return false;
  wake_reactor(index, generation);  // does not allocate (unless the event's constructor sent too)
  return true;
}

template <class E, class Arg>
Delivery ReactorNotify::send_to(Address<E> to, Arg&& event) {
  const std::uint32_t index = to.reactor_.index_;
  const std::uint32_t generation = to.reactor_.generation_;
  // A removed reactor fails this at once, also during the pass that
  // destroys it at its end, and so does an empty Address (generation 0).
  if (!slab_.live(index, generation)) [[unlikely]]
    return Delivery::gone;
  // On full, `event` was not touched (an rvalue was not moved from).
  return deliver(*to.inbox_, index, generation, std::forward<Arg>(event)) ? Delivery::delivered : Delivery::full;
}

template <class E>
Delivery ReactorNotify::send(Address<E> to, const std::type_identity_t<E>& event) {
  return send_to(to, event);
}

template <class E>
Delivery ReactorNotify::send(Address<E> to, std::type_identity_t<E>&& event) {
  return send_to(to, std::move(event));
}

template <class Ctx, class E>
std::size_t ReactorNotify::publish(DataSource src, Inbox<E> Ctx::*member, const std::type_identity_t<E>& event) {
  if (member == nullptr) [[unlikely]]
    throw_null_member();
  if (!contains(src)) return 0;
  mark(src);
  std::size_t accepted = 0;
  // Re-indexed on every turn, never iterated by reference: copying an event
  // runs user code, which may change this source's subscribers.
  for (std::size_t k = 0; contains(src) && k < sources_[src.index_].subscribers.size(); ++k) {
    const std::uint32_t index = sources_[src.index_].subscribers[k];
    // Always live, except while ReactorNotify is destroyed: reactors die
    // then without leaving the lists, and a context's destructor may publish.
    if (!slab_.is_live(index)) [[unlikely]]
      continue;
    Ctx* const context = internal::context_cast<Ctx>(slab_.get(index));  // checks the type
    if (context == nullptr) continue;
    Inbox<E>& inbox = context->*member;
    const ReactorToken owner(index, slab_.generation(index));
    inbox.tie(*this, owner);
    if (deliver(inbox, index, owner.generation_, event)) ++accepted;
  }
  return accepted;
}

}  // namespace keel
