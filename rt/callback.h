// Callbacks: handlers that carry a context value of their own, passed as the
// function's first argument (a timer's id, a connection's state).
//
//   struct TimerCtx { int id; int fires = 0; };
//   void on_timeout(TimerCtx& ctx, keel::ResMut<Stats> s, keel::Instant at) { ++ctx.fires; }
//   auto cb = keel::callback(TimerCtx{42}, world.registry(), on_timeout);
//   cb.run(world, now);
//   cb.ctx().fires;                              // 1: the context is reachable
//
// Use a callback rather than a capturing lambda when the context must be
// reachable from outside (inspection, re-arming) or the handler is stamped
// from a CallbackTemplate with a different context each time.
#pragma once

#include <source_location>
#include <string_view>
#include <type_traits>
#include <utility>

#include "rt/handler.h"

namespace keel {
namespace internal {

template <class F>
struct CallbackShape {
  using Sig = Signature<std::remove_cvref_t<F>>;
  static_assert(Sig::known,
                "keel: cannot read this callable's parameter list (a generic lambda with auto parameters?); "
                "spell out its parameter types.");
  // An unreadable callable, or one with fewer than two parameters, stands in
  // as a function of (int&, int) once its static_assert has fired, so that
  // the assertion is the only error.
  using Read = typename std::conditional_t<Sig::known, Sig, SignatureOf<void, int&, int>>::Args;
  static_assert(Read::size >= 2,
                "keel: a callback function takes (Context&, keel parameters..., Event): at least a context and "
                "an event.");
  using Args = std::conditional_t<(Read::size >= 2), Read, TypeList<int&, int>>;
  using ContextArg = typename First<Args>::type;
  static constexpr bool context_by_reference =
      std::is_lvalue_reference_v<ContextArg> && !std::is_const_v<std::remove_reference_t<ContextArg>>;
  static_assert(context_by_reference,
                "keel: a callback's first parameter is its context, taken by non-const reference (Context&).");
  using Context = std::remove_cvref_t<ContextArg>;
  using Rest = typename First<Args>::rest;
  using Event = typename Last<Rest>::type;
  using Params = DropLast<Rest>;
  // The function has a readable context parameter, so Context means something.
  static constexpr bool has_context = Sig::known && Read::size >= 2;
  static constexpr bool ok = has_context && context_by_reference && CheckHandlerParams<Params, Event>::value;
  // Empty for a list that is not all keel parameters, so that naming it
  // adds no error (and no line to the backtrace of the one reported).
  using ParamSet = typename std::conditional_t<AllParams<Params>::value, ParamSetFor<Params>,
                                               std::type_identity<internal::ParamSet<>>>::type;
};

template <class Context, class F, class Event, class Params>
class CallbackHandler {
 public:
  using event_type = Event;
  using context_type = Context;

  CallbackHandler(Context context, WorldStamp built_for, Params params, F fn, std::string_view name)
      : built_for_(built_for), params_(std::move(params)), context_(std::move(context)), fn_(std::move(fn)),
        name_(name) {}

  void run(World& world, Event event) {
    check_world(built_for_, world, name_);
    // A callback's result is ignored, [[nodiscard]] types included.
    static_cast<void>(params_.call_with_front(fn_, context_, world, std::forward<Event>(event)));
  }

  Context& ctx() noexcept { return context_; }
  const Context& ctx() const noexcept { return context_; }
  std::string_view name() const noexcept { return name_; }

 private:
  WorldStamp built_for_;
  Params params_;
  Context context_;
  [[no_unique_address]] F fn_;
  std::string_view name_;
};

template <class F>
using CallbackHandlerFor = CallbackHandler<typename CallbackShape<F>::Context, std::decay_t<F>,
                                           typename CallbackShape<F>::Event, typename CallbackShape<F>::ParamSet>;

}  // namespace internal

// Builds a callback: fn(Context&, params..., event) with `context` owned by
// the returned handler. Missing resources throw ConfigError.
template <class Context, class F>
auto callback(Context&& context, const Registry& registry, F&& fn,
              std::source_location site = std::source_location::current()) {
  using Shape = internal::CallbackShape<F>;
  constexpr bool context_fits = !Shape::has_context || std::is_constructible_v<typename Shape::Context, Context&&>;
  static_assert(context_fits,
                "keel: the context given to callback() cannot initialise the function's first parameter.");
  if constexpr (!Shape::ok || !context_fits) {
    return internal::RejectedHandler<typename Shape::Event>{};  // a static_assert has explained the problem
  } else {
    const std::string_view name = internal::callable_name(fn, site);
    return internal::CallbackHandlerFor<F>(typename Shape::Context(std::forward<Context>(context)), internal::WorldStamp(registry),
                                           Shape::ParamSet::resolve(registry, name), std::forward<F>(fn), name);
  }
}

// Resolves a callback function once; generate(ctx) stamps callbacks with a
// fresh context by copying resolved state.
template <class F>
class CallbackTemplate {
  using Shape = internal::CallbackShape<F>;

 public:
  // As for HandlerTemplate: naming Shape::ok runs the shape's
  // static_asserts, and a rejected function stamps the complete stand-in.
  using handler_type = std::conditional_t<Shape::ok, internal::CallbackHandlerFor<F>,
                                          internal::RejectedHandler<typename Shape::Event>>;
  using context_type = typename Shape::Context;

  CallbackTemplate(const Registry& registry, F fn, std::source_location site = std::source_location::current())
      : resolved_(registry, std::move(fn), site) {}

  handler_type generate(context_type context) const {
    if constexpr (Shape::ok) {
      return resolved_.template stamp<handler_type>(std::move(context));
    } else {
      static_cast<void>(context);
      return handler_type{};
    }
  }

  std::string_view name() const noexcept { return resolved_.name(); }

 private:
  internal::ResolvedOnce<typename Shape::ParamSet, F> resolved_;
};

template <class F>
CallbackTemplate(const Registry&, F) -> CallbackTemplate<std::decay_t<F>>;
template <class F>
CallbackTemplate(const Registry&, F, std::source_location) -> CallbackTemplate<std::decay_t<F>>;

}  // namespace keel
