// Handler adapters: wrap a handler to change how it is called.
//
//   auto safe = keel::catch_exceptions(keel::handler(reg, parse),
//                                      [](std::exception_ptr e) { log(e); });  // survives throws
//   auto by_value = keel::by_ref(keel::handler(reg, on_quote));   // const Quote& handler as Handler<Quote>
//   auto by_cref  = keel::cloned(keel::handler(reg, consume));    // Quote handler as Handler<const Quote&>
//
// Each adapter is itself a concrete handler (inlinable, boxable), and also
// accepts a std::unique_ptr<Handler<E>>, or a std::unique_ptr<D> for a class
// D publicly derived from keel::Handler<E>.
#pragma once

#include <exception>
#include <memory>
#include <string_view>
#include <type_traits>
#include <utility>

#include "rt/error.h"
#include "rt/handler.h"

namespace keel {
namespace internal {

// A class publicly derived from keel::Handler<E> (Handler<E> itself
// included), E being the event_type it inherits. Public, because a
// std::unique_ptr<D> must convert to std::unique_ptr<Handler<E>>.
template <class T>
concept HandlerSubclass =
    requires { typename T::event_type; } && std::is_convertible_v<T*, Handler<typename T::event_type>*>;

// A boxed handler: std::unique_ptr<D> for a HandlerSubclass D, with the
// default deleter (another deleter could not become a
// std::unique_ptr<Handler<E>>).
template <class P>
struct BoxedHandlerPointer : std::false_type {};
template <HandlerSubclass D>
struct BoxedHandlerPointer<std::unique_ptr<D>> : std::true_type {};
template <class P>
inline constexpr bool is_boxed_handler = BoxedHandlerPointer<std::remove_cvref_t<P>>::value;

// Lets adapters hold either a concrete handler or a boxed one.
template <class H>
struct HandlerAccess {
  using event_type = typename H::event_type;
  static H& get(H& h) noexcept { return h; }
  static const H& get(const H& h) noexcept { return h; }
};
template <HandlerSubclass D>
struct HandlerAccess<std::unique_ptr<D>> {
  using event_type = typename D::event_type;
  static D& get(std::unique_ptr<D>& h) noexcept { return *h; }
  static const D& get(const std::unique_ptr<D>& h) noexcept { return *h; }
};

template <class H>
using EventOf = typename HandlerAccess<H>::event_type;

template <class H, class OnError>
class CatchingHandler {
 public:
  using event_type = EventOf<H>;
  CatchingHandler(H inner, OnError on_error) : inner_(std::move(inner)), on_error_(std::move(on_error)) {}

  void run(World& world, event_type event) {
    try {
      HandlerAccess<H>::get(inner_).run(world, std::forward<event_type>(event));
    } catch (const ConfigError&) {
      throw;  // a bug in how the program is put together, not a failed event
    } catch (...) {
      on_error_(std::current_exception());
    }
  }
  std::string_view name() const noexcept { return HandlerAccess<H>::get(inner_).name(); }
  H& inner() noexcept { return inner_; }

 private:
  H inner_;
  [[no_unique_address]] OnError on_error_;
};

template <class H>
class ByRefHandler {
 public:
  using inner_event = EventOf<H>;
  static_assert(std::is_lvalue_reference_v<inner_event> && std::is_const_v<std::remove_reference_t<inner_event>>,
                "keel: by_ref() adapts a handler of `const E&` into a handler of `E`; this handler's event is "
                "not a const reference.");
  using event_type = std::remove_cvref_t<inner_event>;
  explicit ByRefHandler(H inner) : inner_(std::move(inner)) {}
  void run(World& world, event_type event) { HandlerAccess<H>::get(inner_).run(world, event); }
  std::string_view name() const noexcept { return HandlerAccess<H>::get(inner_).name(); }

 private:
  H inner_;
};

template <class H>
class ClonedHandler {
 public:
  using inner_event = EventOf<H>;
  static_assert(!std::is_reference_v<inner_event>,
                "keel: cloned() adapts a handler of `E` (by value) into a handler of `const E&`; this handler "
                "already takes a reference.");
  using event_type = const inner_event&;
  explicit ClonedHandler(H inner) : inner_(std::move(inner)) {}
  void run(World& world, event_type event) { HandlerAccess<H>::get(inner_).run(world, inner_event(event)); }
  std::string_view name() const noexcept { return HandlerAccess<H>::get(inner_).name(); }

 private:
  H inner_;
};

}  // namespace internal

// A handler that reports exceptions to on_error(std::exception_ptr) instead
// of letting them escape; the wrapped handler stays usable for the next event.
// keel::ConfigError is the exception: it still escapes, because it reports a
// bug in how the program is put together (the handler run on another World),
// which no per-event error handler should be able to hide.
template <class H, class OnError>
auto catch_exceptions(H handler, OnError on_error) {
  static_assert(std::is_invocable_v<OnError&, std::exception_ptr>,
                "keel: catch_exceptions' error function must be callable with a std::exception_ptr.");
  return internal::CatchingHandler<H, OnError>(std::move(handler), std::move(on_error));
}

// Handler<const E&> → handler of E: the value is passed on by reference.
template <class H>
auto by_ref(H handler) {
  return internal::ByRefHandler<H>(std::move(handler));
}

// Handler<E> → handler of const E&: each event is copied for the inner handler.
template <class H>
auto cloned(H handler) {
  return internal::ClonedHandler<H>(std::move(handler));
}

}  // namespace keel
