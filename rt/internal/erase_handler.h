// How the APIs that store handlers — Uring::watch()/try_watch()/on_wake(),
// TimerWheel::schedule()/schedule_periodic(), fan_out() and
// Broadcast<E>::add() — read the argument they are given. One set of rules,
// so every one of them takes the same kinds of argument and rejects the same
// mistakes with one static_assert that says what it takes:
//
//   the argument                                      | becomes
//   --------------------------------------------------+--------------------------------------------
//   std::unique_ptr<D>, D publicly derived from        | HeldBox<X>: the pointer (one allocation,
//     keel::Handler<X>, passed as an rvalue            |   already made); empty: ConfigError
//   a handler value: event_type, run(World&, event),   | itself (kept inline or boxed by the API)
//     name() callable on a const object                |
//   a function, function pointer, lambda, keel::fn<&f> | keel::handler(registry, fn), in the APIs
//                                                      |   that have a registry (not fan-outs)
//
// then adapted to the event spelling the API stores (a Slot's `Stored`): a
// handler of E in a `const E&` slot gets a copy per event (ClonedHandler), a
// handler of `const E&` in an `E` slot gets a reference (ByRefHandler), in
// the slots that allow it. Anything else fires one static_assert from the
// slot's Rejections and the API returns an empty value, so no second error
// follows.
//
// A Slot is a struct with `Stored` (`const E&` or `E`), `Rejections`,
// `kApi` (its name in ConfigError messages), `kAdaptsSpelling` and
// `kBuildsFunctions`; each API header defines its own:
//
//   InlineHandler<const Readiness&, 64> h = erase_inline<WatchSlot, 64>(std::move(arg), &registry, site);
//
// Not for: reactors and systems, which take functions of parameters, not
// handlers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <source_location>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "rt/error.h"
#include "rt/handler.h"
#include "rt/internal/inline_storage.h"
#include "rt/internal/type_name.h"

namespace keel::internal {

// What a handler argument is. The first two are accepted everywhere,
// kFunction where the slot builds functions; the rest name the mistake.
enum class HandlerArgument : std::uint8_t {
  kBoxed,                   // std::unique_ptr<D>, D publicly derived from Handler<X>, an rvalue
  kValue,                   // a handler value of a concrete type
  kFunction,                // a callable whose parameter list Keel can read
  kBoxedLvalue,             // as kBoxed, but an lvalue: it would be moved from behind the caller's back
  kRawPointer,              // a pointer to an object: may be null, does not say who deletes it
  kUniquePtrToNonHandler,   // a std::unique_ptr to anything else (or with a deleter of its own)
  kAbstract,                // an abstract class by value or reference: cannot be stored
  kNoEventType,             // has run() but no event_type
  kRunDoesNotTakeItsEvent,  // run(World&, event_type) cannot be called
  kNoConstName,             // name() cannot be called on a const object, or does not give a string_view
  kUnreadable,              // none of the above, and not a callable Keel can read
};

template <class P>
struct IsUniquePtr : std::false_type {};
template <class T, class Deleter>
struct IsUniquePtr<std::unique_ptr<T, Deleter>> : std::true_type {};

template <class A>
concept DeclaresEventType = requires { typename A::event_type; };
template <class A>
concept HasRunMember = requires { &A::run; };
template <class A>
concept RunsItsEvent = requires(A& h, World& world) { h.run(world, std::declval<typename A::event_type>()); };
template <class A>
concept NamedWhenConst = requires(const A& h) {
  { h.name() } -> std::convertible_to<std::string_view>;
};

// H as deduced by a forwarding reference: an lvalue argument is `T&`.
template <class H>
consteval HandlerArgument handler_argument() {
  using A = std::remove_cvref_t<H>;
  if constexpr (IsUniquePtr<A>::value) {
    if constexpr (!BoxedHandlerPointer<A>::value) return HandlerArgument::kUniquePtrToNonHandler;
    else if constexpr (std::is_lvalue_reference_v<H>) return HandlerArgument::kBoxedLvalue;
    else return HandlerArgument::kBoxed;
  } else if constexpr (std::is_pointer_v<A> && std::is_class_v<std::remove_pointer_t<A>>) {
    return HandlerArgument::kRawPointer;
  } else if constexpr (DeclaresEventType<A> || HasRunMember<A>) {
    // A type meant as a handler: say which part is missing rather than
    // treating it as a function.
    if constexpr (!DeclaresEventType<A>) return HandlerArgument::kNoEventType;
    else if constexpr (std::is_abstract_v<A>) return HandlerArgument::kAbstract;
    else if constexpr (!RunsItsEvent<A>) return HandlerArgument::kRunDoesNotTakeItsEvent;
    else if constexpr (!NamedWhenConst<A>) return HandlerArgument::kNoConstName;
    else return HandlerArgument::kValue;
  } else if constexpr (Signature<A>::known) {
    return HandlerArgument::kFunction;
  } else {
    return HandlerArgument::kUnreadable;
  }
}

// A boxed handler as a handler value: one pointer, so it sits in the same
// inline slots as concrete handlers. Never empty (checked when made).
template <class E>
struct HeldBox {
  using event_type = E;
  std::unique_ptr<Handler<E>> inner;
  void run(World& world, E event) { inner->run(world, std::forward<E>(event)); }
  std::string_view name() const noexcept { return inner->name(); }
};

// The event of an argument that carries one (kBoxed, kValue), else void.
template <class H, HandlerArgument Kind = handler_argument<H>()>
struct ArgumentEvent {
  using type = void;
};
template <class H>
struct ArgumentEvent<H, HandlerArgument::kBoxed> {
  using type = typename std::remove_cvref_t<H>::element_type::event_type;
};
template <class H>
struct ArgumentEvent<H, HandlerArgument::kValue> {
  using type = typename std::remove_cvref_t<H>::event_type;
};

// How a handler of `Event` reaches a slot that stores `Slot::Stored`.
enum class Spelling : std::uint8_t { kSame, kCopy, kReference, kNone };

template <class Slot, class Event>
consteval Spelling spelling() {
  using Stored = typename Slot::Stored;
  if constexpr (std::is_same_v<Event, Stored>) {
    return Spelling::kSame;
  } else if constexpr (!Slot::kAdaptsSpelling) {
    return Spelling::kNone;
  } else if constexpr (std::is_reference_v<Stored> && std::is_same_v<Event, std::remove_cvref_t<Stored>>) {
    return Spelling::kCopy;  // a `const E&` slot, a handler of E
  } else if constexpr (!std::is_reference_v<Stored> && std::is_same_v<Event, const Stored&>) {
    return Spelling::kReference;  // an `E` slot, a handler of `const E&`
  } else {
    return Spelling::kNone;
  }
}

template <class Slot, class Event>
consteval bool event_fits() {
  if constexpr (spelling<Slot, Event>() != Spelling::kNone) return true;
  else return Slot::Rejections::template HandlerOfAnotherEvent<Event>::ok;
}

// True when `Slot` takes an argument of type H. Otherwise one static_assert
// (the slot's, or keel::handler()'s for a function it cannot build) has
// explained why, and the caller must not use the argument.
template <class Slot, class H>
consteval bool accepts_handler() {
  using A = std::remove_cvref_t<H>;
  using R = typename Slot::Rejections;
  constexpr HandlerArgument kind = handler_argument<H>();
  if constexpr (kind == HandlerArgument::kBoxed || kind == HandlerArgument::kValue) {
    return event_fits<Slot, typename ArgumentEvent<H>::type>();
  } else if constexpr (kind == HandlerArgument::kFunction && Slot::kBuildsFunctions) {
    if constexpr (!HandlerShape<A>::ok) return false;  // keel::handler()'s static_assert has said why
    else return event_fits<Slot, typename HandlerShape<A>::Event>();
  } else if constexpr (kind == HandlerArgument::kFunction || kind == HandlerArgument::kUnreadable) {
    return R::template NeitherHandlerNorFunction<A>::ok;
  } else if constexpr (kind == HandlerArgument::kBoxedLvalue) {
    return R::template UniquePtrNotMoved<A>::ok;
  } else if constexpr (kind == HandlerArgument::kRawPointer) {
    return R::template RawPointer<A>::ok;
  } else if constexpr (kind == HandlerArgument::kUniquePtrToNonHandler) {
    return R::template UniquePtrToNonHandler<A>::ok;
  } else if constexpr (kind == HandlerArgument::kAbstract) {
    return R::template AbstractHandler<A>::ok;
  } else if constexpr (kind == HandlerArgument::kNoEventType) {
    return R::template HandlerTypeWithoutEventType<A>::ok;
  } else if constexpr (kind == HandlerArgument::kRunDoesNotTakeItsEvent) {
    return R::template RunDoesNotTakeItsEvent<A>::ok;
  } else {
    static_assert(kind == HandlerArgument::kNoConstName);
    return R::template NameNotCallableWhenConst<A>::ok;
  }
}

[[noreturn, gnu::cold]] inline void throw_empty_boxed_handler(std::string_view api, std::string_view handler_class) {
  std::string message = "keel: ";
  message += api;
  message += " was given an empty std::unique_ptr<";
  message += handler_class;
  message += ">; pass one that owns a handler";
  throw ConfigError(message);
}

// Throws ConfigError when `handler` is an empty boxed handler; cold path.
template <class H>
void reject_empty_boxed(const H& handler, std::string_view api) {
  if constexpr (is_boxed_handler<H>) {
    if (!handler) throw_empty_boxed_handler(api, type_name<typename H::element_type>());
  }
}

template <class Slot, class V>
auto adapt_to_slot(V handler) {
  constexpr Spelling how = spelling<Slot, typename V::event_type>();
  if constexpr (how == Spelling::kSame) return handler;
  else if constexpr (how == Spelling::kCopy) return ClonedHandler<V>(std::move(handler));
  else return ByRefHandler<V>(std::move(handler));
}

// The handler value an accepted argument becomes, adapted to the slot.
// Precondition: accepts_handler<Slot, H>(). Throws ConfigError for an empty
// boxed handler, and whatever keel::handler() throws for a function.
template <class Slot, class H>
auto make_slot_handler(H&& handler, const Registry* registry, const std::source_location& site) {
  using A = std::remove_cvref_t<H>;
  constexpr HandlerArgument kind = handler_argument<H>();
  if constexpr (kind == HandlerArgument::kBoxed) {
    reject_empty_boxed(handler, Slot::kApi);
    return adapt_to_slot<Slot>(HeldBox<typename A::element_type::event_type>{std::move(handler)});
  } else if constexpr (kind == HandlerArgument::kValue) {
    return adapt_to_slot<Slot>(A(std::forward<H>(handler)));
  } else {
    return adapt_to_slot<Slot>(keel::handler(*registry, std::forward<H>(handler), site));
  }
}

// The type make_slot_handler<Slot>() returns for H: what a slot stores
// (inline when it fits). Only for arguments the slot accepts.
template <class Slot, class H>
using SlotHandler =
    decltype(make_slot_handler<Slot>(std::declval<H>(), nullptr, std::declval<const std::source_location&>()));

// The argument as an InlineHandler of the slot's event: inline when it fits
// (Bytes, alignment, a noexcept move), else boxed (one allocation here). A
// boxed argument is kept as its pointer, not boxed again. Empty after a
// static_assert.
template <class Slot, std::size_t Bytes, class H>
InlineHandler<typename Slot::Stored, Bytes> erase_inline(H&& handler, const Registry* registry,
                                                         const std::source_location& site) {
  using Stored = typename Slot::Stored;
  if constexpr (!accepts_handler<Slot, H>()) {
    return {};  // a static_assert has explained the problem
  } else {
    auto value = make_slot_handler<Slot>(std::forward<H>(handler), registry, site);
    using V = decltype(value);
    if constexpr (InlineStorage<Bytes>::template fits<V>) {
      return InlineHandler<Stored, Bytes>(std::move(value));
    } else {
      return InlineHandler<Stored, Bytes>(HeldBox<Stored>{keel::boxed(std::move(value))});
    }
  }
}

// The argument as a std::unique_ptr<Handler<Stored>>: a boxed argument of
// that event as it is, anything else boxed here (one allocation). Null
// after a static_assert.
template <class Slot, class H>
std::unique_ptr<Handler<typename Slot::Stored>> erase_boxed(H&& handler, const Registry* registry = nullptr,
                                                            const std::source_location& site = {}) {
  using Stored = typename Slot::Stored;
  if constexpr (!accepts_handler<Slot, H>()) {
    return nullptr;  // a static_assert has explained the problem
  } else {
    auto value = make_slot_handler<Slot>(std::forward<H>(handler), registry, site);
    if constexpr (std::is_same_v<decltype(value), HeldBox<Stored>>) {
      return std::move(value.inner);
    } else {
      return keel::boxed(std::move(value));
    }
  }
}

// The messages. Each API has a Rejections struct whose member templates are
// instantiated for one mistake each; the static_assert says what the API
// takes (TAKES) and what to pass, and g++'s "In instantiation of" line
// names the offending type. Written once here so the texts stay alike.
#define KEEL_INTERNAL_HANDLER_REJECTIONS(Name, TAKES)                                                              \
  struct Name {                                                                                                    \
    template <class Event>                                                                                         \
    struct HandlerOfAnotherEvent {                                                                                 \
      static_assert(dependent_false<Event>,                                                                        \
                    "keel: " TAKES "; this is a handler of another event, the type in "                            \
                    "'HandlerOfAnotherEvent<Event>'. Make the handler take the event above.");                     \
      static constexpr bool ok = false;                                                                            \
    };                                                                                                             \
    template <class Pointer>                                                                                       \
    struct UniquePtrNotMoved {                                                                                     \
      static_assert(dependent_false<Pointer>,                                                                      \
                    "keel: " TAKES "; it takes ownership of a std::unique_ptr, and this one (the type in "         \
                    "'UniquePtrNotMoved<Pointer>') is an lvalue. Pass std::move(ptr).");                           \
      static constexpr bool ok = false;                                                                            \
    };                                                                                                             \
    template <class Pointer>                                                                                       \
    struct RawPointer {                                                                                            \
      static_assert(dependent_false<Pointer>,                                                                      \
                    "keel: " TAKES ", and owns what it stores; this is a raw pointer (the type in "                \
                    "'RawPointer<Pointer>'), which may be null and does not say who deletes the handler. Pass a "  \
                    "std::unique_ptr (std::make_unique<T>(...)) or the handler by value.");                        \
      static constexpr bool ok = false;                                                                            \
    };                                                                                                             \
    template <class Pointer>                                                                                       \
    struct UniquePtrToNonHandler {                                                                                 \
      static_assert(dependent_false<Pointer>,                                                                      \
                    "keel: " TAKES "; this std::unique_ptr (the type in 'UniquePtrToNonHandler<Pointer>') does "   \
                    "not point to a class publicly derived from keel::Handler<E>, or has a deleter of its own. "   \
                    "Pass a handler type of your own by value (it is moved in, and boxed if large), or derive "    \
                    "the class from keel::Handler<E>.");                                                           \
      static constexpr bool ok = false;                                                                            \
    };                                                                                                             \
    template <class Type>                                                                                          \
    struct AbstractHandler {                                                                                       \
      static_assert(dependent_false<Type>,                                                                         \
                    "keel: " TAKES "; this is an abstract class (the type in 'AbstractHandler<Type>'), which "     \
                    "cannot be stored by value. Pass an object of a concrete class, or a std::unique_ptr<D> "      \
                    "(std::make_unique<D>(...)) for a class D derived from keel::Handler<E>.");                    \
      static constexpr bool ok = false;                                                                            \
    };                                                                                                             \
    template <class Type>                                                                                          \
    struct HandlerTypeWithoutEventType {                                                                           \
      static_assert(dependent_false<Type>,                                                                         \
                    "keel: " TAKES "; the type in 'HandlerTypeWithoutEventType<Type>' has run() but no `using "    \
                    "event_type = E;`. A handler type declares event_type, `void run(keel::World&, event_type)` "  \
                    "and `std::string_view name() const noexcept`.");                                              \
      static constexpr bool ok = false;                                                                            \
    };                                                                                                             \
    template <class Type>                                                                                          \
    struct RunDoesNotTakeItsEvent {                                                                                \
      static_assert(dependent_false<Type>,                                                                         \
                    "keel: " TAKES "; the type in 'RunDoesNotTakeItsEvent<Type>' declares event_type, but "        \
                    "run(keel::World&, event_type) cannot be called on it. A handler type declares event_type, "   \
                    "`void run(keel::World&, event_type)` and `std::string_view name() const noexcept`.");         \
      static constexpr bool ok = false;                                                                            \
    };                                                                                                             \
    template <class Type>                                                                                          \
    struct NameNotCallableWhenConst {                                                                              \
      static_assert(dependent_false<Type>,                                                                         \
                    "keel: " TAKES "; the type in 'NameNotCallableWhenConst<Type>' has no name() that can be "     \
                    "called on a const object and returns a std::string_view. Declare `std::string_view name() "   \
                    "const noexcept`.");                                                                           \
      static constexpr bool ok = false;                                                                            \
    };                                                                                                             \
    template <class Type>                                                                                          \
    struct NeitherHandlerNorFunction {                                                                             \
      static_assert(dependent_false<Type>,                                                                         \
                    "keel: " TAKES "; the type in 'NeitherHandlerNorFunction<Type>' is neither a handler nor a "   \
                    "function whose parameter list Keel can read (a generic lambda with auto parameters? an "      \
                    "overloaded function object? a std::shared_ptr?). Spell out the function's parameter types, "  \
                    "or pass one of the above.");                                                                  \
      static constexpr bool ok = false;                                                                            \
    };                                                                                                             \
  }

KEEL_INTERNAL_HANDLER_REJECTIONS(WatchRejections,
                                 "Uring::watch() takes a handler of `const keel::Readiness&` (or "
                                 "`keel::Readiness`, copied): a keel handler, a type of your own with event_type, "
                                 "run() and name() const, a std::unique_ptr to a class derived from "
                                 "keel::Handler<const keel::Readiness&>, or a function (built with "
                                 "keel::handler())");
KEEL_INTERNAL_HANDLER_REJECTIONS(OnWakeRejections,
                                 "Uring::on_wake() takes a handler of `const keel::Woken&` (or `keel::Woken`, "
                                 "copied): a keel handler, a type of your own with event_type, run() and name() "
                                 "const, a std::unique_ptr to a class derived from keel::Handler<const "
                                 "keel::Woken&>, or a function (built with keel::handler())");
KEEL_INTERNAL_HANDLER_REJECTIONS(ScheduleRejections,
                                 "TimerWheel::schedule() (and schedule_periodic()) takes a handler of "
                                 "`keel::Instant` (or `const keel::Instant&`): a keel handler or callback, a type "
                                 "of your own with event_type, run() and name() const, a std::unique_ptr to a class "
                                 "derived from keel::Handler<keel::Instant>, or a function (built with "
                                 "keel::handler())");
KEEL_INTERNAL_HANDLER_REJECTIONS(FanOutCommonRejections,
                                 "fan_out() and Broadcast<E>::add() take handlers of `const E&`: keel handlers, "
                                 "adapters, fan-outs, types of your own with event_type, run() and name() const, "
                                 "or a std::unique_ptr to a class derived from keel::Handler<const E&>");
#undef KEEL_INTERNAL_HANDLER_REJECTIONS

}  // namespace keel::internal
