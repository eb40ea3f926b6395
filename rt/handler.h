// Handlers: plain functions whose leading parameters are resolved against a
// World once, and whose last parameter is the event.
//
// keel::handler(registry, fn) returns a concrete, fully inlinable handler;
// keel::boxed(h) erases it behind the virtual keel::Handler<E> when a
// heterogeneous list is needed; keel::HandlerTemplate resolves once and
// stamps copies for handlers re-created per event.
//
//   void on_quote(keel::ResMut<OrderBook> book, keel::Res<RiskLimits> lim, const Quote& q);
//   auto h = keel::handler(world.registry(), on_quote);
//   h.run(world, quote);                        // one load per parameter, then the call
//   std::unique_ptr<keel::Handler<const Quote&>> any = keel::boxed(std::move(h));
//
// Not for: code that needs the World itself (take parameters instead), or
// functions with generic (auto) parameters, whose list Keel cannot read.
// The callback, inline-storage and adapter families live in callback.h,
// inline_handler.h and handler_adapters.h and are included at the end.
#pragma once

#include <memory>
#include <source_location>
#include <string_view>
#include <type_traits>
#include <utility>

#include "rt/error.h"
#include "rt/internal/callable_name.h"
#include "rt/internal/signature.h"
#include "rt/internal/type_name.h"
#include "rt/param.h"
#include "rt/registry.h"
#include "rt/world.h"

namespace keel {

// The abstract handler of events of type E (E, const E& or E&&): what boxed()
// returns and what dynamic lists hold. One virtual call per run().
template <class E>
class Handler {
 public:
  using event_type = E;
  virtual ~Handler() = default;
  virtual void run(World& world, E event) = 0;
  virtual std::string_view name() const noexcept = 0;
};

// A named function as a value: keel::fn<&on_quote>. The call is direct, so
// the optimiser can inline it (through a plain function pointer it can only
// when it sees which function the pointer holds), and name() is exact.
template <auto F>
struct Fn {
  using signature_type = decltype(F);
  static constexpr std::string_view name = internal::value_name<F>();
  template <class... A>
  constexpr decltype(auto) operator()(A&&... args) const {
    return F(std::forward<A>(args)...);
  }
};
template <auto F>
inline constexpr Fn<F> fn{};

// Anything with `event_type`, `run(World&, event_type)` and `name()`:
// concrete handlers, callbacks, adapters and Handler<E> itself.
template <class H>
concept HandlerLike = requires(H& h, World& world) {
  typename H::event_type;
  h.run(world, std::declval<typename H::event_type>());
  { h.name() } -> std::convertible_to<std::string_view>;
};

namespace internal {

// Which World a handler was built for: the Registry's serial, copied, so
// the check never reads the Registry (which may be gone) and a new World at
// a recycled address is still told apart.
class WorldStamp {
 public:
  explicit WorldStamp(const Registry& registry) noexcept : serial_(registry.serial()) {}
  std::uint64_t serial() const noexcept { return serial_; }

 private:
  std::uint64_t serial_;
};

[[noreturn, gnu::cold]] void throw_wrong_world(const std::string_view* handler, std::uint64_t built,
                                               std::uint64_t run);

// The wrong-World check: a handler holds addresses from the World it was
// built for; running it on another World would touch the first World's
// resources (or freed memory). It costs one load and one compare per run,
// which is 10-20% of a handler doing a few stores (docs/benchmarks.md), so
// it follows assert(): on unless NDEBUG is defined. Define
// KEEL_CHECK_WORLD=1 to keep it in a release build (or =0 to drop it from a
// debug one); do so for every translation unit alike.
#ifndef KEEL_CHECK_WORLD
#ifdef NDEBUG
#define KEEL_CHECK_WORLD 0
#else
#define KEEL_CHECK_WORLD 1
#endif
#endif
inline constexpr bool kCheckWorld = KEEL_CHECK_WORLD != 0;

// The name is passed by address so the fast path loads nothing else.
inline void check_world(WorldStamp built_for, const World& world, const std::string_view& handler) {
  if constexpr (kCheckWorld) {
    if (world.serial() != built_for.serial()) [[unlikely]]
      throw_wrong_world(&handler, built_for.serial(), world.serial());
  }
}

template <class F>
struct HandlerShape {
  using Sig = Signature<std::remove_cvref_t<F>>;
  static_assert(Sig::known,
                "keel: cannot read this callable's parameter list (a generic lambda with auto parameters, or "
                "an overloaded function object?); spell out its parameter types.");
  // An unreadable callable stands in as a one-argument function of its own
  // Signature (not a parameter), so that the static_assert above is the only error.
  using Args = typename std::conditional_t<Sig::known, Sig, SignatureOf<void, Sig>>::Args;
  static_assert(Args::size > 0,
                "keel: a handler takes its event as its last parameter; this function takes no parameters.");
  using Event = typename Last<Args>::type;
  using Params = DropLast<Args>;
  static_assert(!(Param<std::remove_cvref_t<Event>> && AllParams<Params>::value),
                "keel: the last parameter of a handler is its event, but this function's last parameter is a "
                "keel parameter; a function of parameters only is a system or a startup function.");
  static constexpr bool ok =
      Sig::known && CheckHandlerParams<Params, Event>::value && !Param<std::remove_cvref_t<Event>>;
  // Empty for a list that is not all keel parameters, so that naming it
  // adds no error (and no line to the backtrace of the one reported).
  using ParamSet = typename std::conditional_t<AllParams<Params>::value, ParamSetFor<Params>,
                                               std::type_identity<internal::ParamSet<>>>::type;
};

// What handler() returns for a function its static_asserts have rejected:
// a complete handler that takes any event and does nothing, so that code
// using the result compiles on and the static_assert is the only error.
// Never run: the program does not compile.
template <class Event>
struct RejectedHandler {
  using event_type = Event;
  template <class... Any>
  void run(Any&&...) {}
  std::string_view name() const noexcept { return "rejected handler"; }
};

// Shared body of handler(), HandlerTemplate::generate() and the callbacks:
// resolved parameters, the function, and where they were resolved.
template <class F, class Event, class Params>
class FunctionHandler {
 public:
  using event_type = Event;

  FunctionHandler(WorldStamp built_for, Params params, F fn, std::string_view name)
      : built_for_(built_for), params_(std::move(params)), fn_(std::move(fn)), name_(name) {}

  // Fetches each parameter (a load each) and calls the function.
  void run(World& world, Event event) {
    check_world(built_for_, world, name_);
    // A handler's result is ignored, [[nodiscard]] types included.
    static_cast<void>(params_.call(fn_, world, std::forward<Event>(event)));
  }

  std::string_view name() const noexcept { return name_; }

 private:
  WorldStamp built_for_;
  Params params_;
  [[no_unique_address]] F fn_;
  std::string_view name_;
};

template <class F>
using FunctionHandlerFor =
    FunctionHandler<std::decay_t<F>, typename HandlerShape<F>::Event, typename HandlerShape<F>::ParamSet>;

// What HandlerTemplate and CallbackTemplate keep from resolving a function
// once: the World stamp, the name, the resolved parameters and the
// function. stamp<H>(front...) makes a handler H(front..., stamp, params,
// fn, name) from copies of them: no lookup, no allocation unless F or a
// parameter's state allocates when copied.
template <class ParamSet, class F>
class ResolvedOnce {
 public:
  ResolvedOnce(const Registry& registry, F&& fn, std::source_location site)
      : built_for_(registry),
        name_(callable_name(fn, site)),
        params_(ParamSet::resolve(registry, name_)),
        fn_(std::move(fn)) {}

  template <class H, class... Front>
  H stamp(Front&&... front) const {
    return H(std::forward<Front>(front)..., built_for_, params_, fn_, name_);
  }

  std::string_view name() const noexcept { return name_; }

 private:
  WorldStamp built_for_;
  std::string_view name_;
  ParamSet params_;
  F fn_;
};

template <class H>
class BoxedHandler final : public Handler<typename H::event_type> {
 public:
  using Event = typename H::event_type;
  explicit BoxedHandler(H inner) : inner_(std::move(inner)) {}
  void run(World& world, Event event) override { inner_.run(world, std::forward<Event>(event)); }
  std::string_view name() const noexcept override { return inner_.name(); }

 private:
  H inner_;
};

}  // namespace internal

// Builds a handler from a function, a function pointer or reference,
// keel::fn<&f>, or a lambda (capturing or not). Parameters are resolved now;
// a missing resource throws ConfigError naming the resource and the handler.
template <class F>
auto handler(const Registry& registry, F&& fn, std::source_location site = std::source_location::current()) {
  using Shape = internal::HandlerShape<F>;
  if constexpr (!Shape::ok) {
    return internal::RejectedHandler<typename Shape::Event>{};  // a static_assert has explained the problem
  } else {
    const std::string_view name = internal::callable_name(fn, site);
    return internal::FunctionHandlerFor<F>(internal::WorldStamp(registry), Shape::ParamSet::resolve(registry, name),
                                           std::forward<F>(fn), name);
  }
}

// Erases a handler behind the virtual Handler<E>. One allocation, here.
template <HandlerLike H>
std::unique_ptr<Handler<typename H::event_type>> boxed(H handler) {
  return std::make_unique<internal::BoxedHandler<H>>(std::move(handler));
}

// Resolves a function's parameters once; generate() then stamps handlers by
// copying the resolved state, with no Registry lookup. For handlers that are
// created on every event (IO re-arm, timer re-schedule).
template <class F>
class HandlerTemplate {
  using Shape = internal::HandlerShape<F>;

 public:
  // Naming Shape::ok here runs the shape's static_asserts when the template
  // is instantiated; a rejected function stamps the complete stand-in, so
  // that the assertion is the only error.
  using handler_type = std::conditional_t<Shape::ok, internal::FunctionHandlerFor<F>,
                                          internal::RejectedHandler<typename Shape::Event>>;

  HandlerTemplate(const Registry& registry, F fn, std::source_location site = std::source_location::current())
      : resolved_(registry, std::move(fn), site) {}

  // A new handler with a copy of the resolved state (Local<T> values start
  // from the template's). Cheap: no lookup, no allocation unless F allocates
  // when copied.
  handler_type generate() const {
    if constexpr (Shape::ok) {
      return resolved_.template stamp<handler_type>();
    } else {
      return handler_type{};
    }
  }

  std::string_view name() const noexcept { return resolved_.name(); }

 private:
  internal::ResolvedOnce<typename Shape::ParamSet, F> resolved_;
};

template <class F>
HandlerTemplate(const Registry&, F) -> HandlerTemplate<std::decay_t<F>>;
template <class F>
HandlerTemplate(const Registry&, F, std::source_location) -> HandlerTemplate<std::decay_t<F>>;

}  // namespace keel

#include "rt/callback.h"
#include "rt/handler_adapters.h"
#include "rt/inline_handler.h"
