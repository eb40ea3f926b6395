// The operations a keel::PipelineBuilder composes (rt/pipeline.h): the chain
// (Source, Link) and one struct per combinator, named after it (Then<F>,
// Map<F>, OnError<F>, ...). Not for users: the builder and the DAG shapes
// (rt/dag.h) are the way in.
//
// How the parts point at each other: a built chain is Link<Link<Source, A>,
// B>, held by value. Each operation takes the previous output X and
// returns the next; run_op() calls it, and run_op_into() hands its output
// to the rest of the chain as a call (see "the chain" below for why
// pipelines run that way). An operation that declares
// `sees_through_optional` is written for a plain optional or expected, and
// apply_lifted() carries it through the optional<expected<T, E>> a filter
// on an expected leaves behind. Steps (resolved functions) come from
// rt/internal/step.h.
//
// Compile-time checks: each operation has a static check<X>() saying
// whether it applies to a chain carrying X and whether its function takes
// what it is passed (ValuePassed<X>, ErrorPassed<X>, ... mirror the calls in
// its apply()); add_step() and add_op() run it before the operation is
// built, so a mistake is reported where the user wrote the step, by one
// static_assert, and the operation becomes Skipped. An operation's name is
// what diagnostics print for the step, so it is kept short: the function's
// type and nothing else.
#pragma once

#include <cstddef>
#include <expected>
#include <optional>
#include <source_location>
#include <tuple>
#include <type_traits>
#include <utility>

#include "rt/internal/callable_name.h"
#include "rt/internal/step.h"

namespace keel::internal {

// What a pass-through step returns for input X: lvalues stay references
// (their owner outlives the chain), rvalues are moved into a value (a
// reference to a temporary would dangle).
template <class X>
using PassThrough = std::conditional_t<std::is_lvalue_reference_v<X>, X, std::remove_cvref_t<X>>;

template <class T>
using Decayed = std::remove_cvref_t<T>;

// Calls a step on a value, spreading a tuple over the inputs after splat().
template <bool Splat, class S, class X>
decltype(auto) apply_step(S& step, World& world, X&& value) {
  if constexpr (Splat) {
    return std::apply([&](auto&&... items) -> decltype(auto) { return step(world, std::forward<decltype(items)>(items)...); },
                      std::forward<X>(value));
  } else {
    return step(world, std::forward<X>(value));
  }
}

// A chain may carry std::optional<std::expected<T, E>> (an optional chain
// mapped through a fallible step): "no value", "error" or "value". Value and
// error combinators see through the outer optional: they act on the
// expected inside (Lifted<X>), an empty optional stays empty, and a result
// that is itself an optional is flattened into it.
template <class D>
inline constexpr bool is_optional_expected = false;
template <class T>
inline constexpr bool is_optional_expected<std::optional<T>> = is_expected<T>;

template <class X, bool = is_optional_expected<std::remove_cvref_t<X>>>
struct LiftedImpl {
  using type = X;
};
template <class X>
struct LiftedImpl<X, true> {
  using type = AsPassed<decltype(*std::declval<X>())>;
};
template <class X>
using Lifted = typename LiftedImpl<X>::type;

template <class T>
inline constexpr bool has_value_or_error = is_optional<T> || is_expected<T>;

// What value and error steps receive from an optional or expected chain:
// the value as map/and_then pass it, as filter/inspect look at it (const&),
// and the error as on_error/map_error/or_else pass it.
template <class T>
struct LookedAtImpl {
  using type = const std::remove_reference_t<T>&;
};
template <>
struct LookedAtImpl<void> {
  using type = void;
};
template <class X>
using ValuePassed = AsPassed<decltype(*std::declval<Lifted<X>>())>;
template <class X>
using ValueLookedAt = typename LookedAtImpl<ValuePassed<X>>::type;
template <class X>
using ErrorPassed = AsPassed<decltype(std::declval<Lifted<X>>().error())>;
template <class X>
using ErrorLookedAt = typename LookedAtImpl<ErrorPassed<X>>::type;

// What a step receives for one passed value P: P, or after splat() the
// tuple's elements. A splat() of something else is NotATuple<P>, which
// step_takes() below reports.
template <class P>
struct NotATuple {};
template <bool Splat, class P, bool = Splat && !is_tuple<P>>
struct PassedAsImpl {
  using type = TypeList<P>;
};
template <class P>
struct PassedAsImpl<true, P, false> {
  using type = TupleItems<P>;
};
template <bool Splat, class P>
struct PassedAsImpl<Splat, P, true> {
  using type = NotATuple<P>;
};
template <bool Splat, class P>
using PassedAs = typename PassedAsImpl<Splat, P>::type;

// --- diagnostics for combinators ------------------------------------------------
// `Step` is the operation the combinator would have added, or one of these
// for the builder calls that add none.
struct SplatTuple;  // splat()
struct Fork;        // fork()

template <class Chain, class Step>
struct MapNeedsOptionalOrExpected {
  static_assert(dependent_false<Chain>,
                "keel: map() applies to a chain carrying std::optional or std::expected; this chain carries a plain "
                "value, the first type in 'MapNeedsOptionalOrExpected<T, Step>'. Use then() for plain values.");
  static constexpr bool ok = false;
};
template <class Chain, class Step>
struct NeedsExpected {
  static_assert(dependent_false<Chain>,
                "keel: on_error(), map_error(), or_else(), inspect_error() and ok() apply to a chain carrying "
                "std::expected; this chain carries the first type in 'NeedsExpected<T, Step>' (for an "
                "std::optional, on_none() and ok_or() handle the empty case).");
  static constexpr bool ok = false;
};
template <class Chain, class Step>
struct NeedsOptional {
  static_assert(dependent_false<Chain>,
                "keel: on_none() and ok_or() apply to a chain carrying std::optional; this chain carries the first "
                "type in 'NeedsOptional<T, Step>'.");
  static constexpr bool ok = false;
};
template <class Chain, class Step>
struct NeedsOptionalOrExpected {
  static_assert(dependent_false<Chain>,
                "keel: and_then(), inspect() and unwrap_or() apply to a chain carrying std::optional or "
                "std::expected; this chain carries the first type in 'NeedsOptionalOrExpected<T, Step>'. Use "
                "then() or tap() for plain values.");
  static constexpr bool ok = false;
};

template <class Next>
struct PipelineHasEnded {
  static_assert(dependent_false<Next>,
                "keel: the pipeline has ended: the previous step returns void, so no step can follow it (the step "
                "added is the one in 'PipelineHasEnded<Step>'). Return a value from the previous step, or end the "
                "pipeline there with build().");
  static constexpr bool ok = false;
};

template <class Passed, class Step>
struct SplatNeedsATuple {
  static_assert(dependent_false<Passed>,
                "keel: splat() spreads a std::tuple or std::pair over the next step's inputs, but that step is "
                "passed the first type in 'SplatNeedsATuple<T, Step>'. Remove splat(), or return a tuple from the "
                "step before it.");
  static constexpr bool ok = false;
};

template <class Returned, class Step>
struct PredicateMustReturnBool {
  static_assert(dependent_false<Returned>,
                "keel: a predicate (filter(), guard(), route()) returns bool; the one in "
                "'PredicateMustReturnBool<Returned, Step>' returns the first type.");
  static constexpr bool ok = false;
};

template <class Returned, class Step>
struct AndThenMustReturnOptional {
  static_assert(dependent_false<Returned>,
                "keel: and_then() on std::optional takes a function returning std::optional; the one in "
                "'AndThenMustReturnOptional<Returned, Step>' returns the first type. Use map() for a function "
                "that always produces a value.");
  static constexpr bool ok = false;
};

template <class Returned, class Error, class Step>
struct AndThenMustReturnExpected {
  static_assert(dependent_false<Returned>,
                "keel: and_then() on std::expected<T, E> takes a function returning std::expected<U, E> with the "
                "same error type E; in 'AndThenMustReturnExpected<Returned, E, Step>' the first type is what it "
                "returns, the second the chain's error type. Use map() for a function that cannot fail, or "
                "map_error() to convert the error first.");
  static constexpr bool ok = false;
};

template <class Returned, class Value, class Step>
struct OrElseMustReturnExpected {
  static_assert(dependent_false<Returned>,
                "keel: or_else() on std::expected<T, E> takes a function of E returning std::expected<T, F> with "
                "the same value type T; in 'OrElseMustReturnExpected<Returned, T, Step>' the first type is what it "
                "returns, the second the chain's value type.");
  static constexpr bool ok = false;
};

template <class Step>
struct MapErrorMustReturnAnError {
  static_assert(dependent_false<Step>,
                "keel: map_error() takes a function of E returning the new error type; the one in "
                "'MapErrorMustReturnAnError<Step>' returns void. Use inspect_error() to look at errors, "
                "on_error() to handle them.");
  static constexpr bool ok = false;
};

template <class Fallback, class Value>
struct UnwrapOrFallbackIsNotAValue {
  static_assert(dependent_false<Fallback>,
                "keel: unwrap_or(d) replaces a missing value with d, so d must make a value of the chain's value "
                "type; in 'UnwrapOrFallbackIsNotAValue<D, T>' the first type is d's, the second the value type.");
  static constexpr bool ok = false;
};

template <class Event, class Passed>
struct DispatchedHandlerDoesNotTakeTheValue {
  static_assert(dependent_false<Event>,
                "keel: dispatch(h) runs h on what the chain carries (on the value, for an std::optional), but h "
                "does not take it; in 'DispatchedHandlerDoesNotTakeTheValue<Event, Passed>' the first type is "
                "h's event, the second what the chain passes.");
  static constexpr bool ok = false;
};

// A step after splat() on a chain that holds no tuple.
template <class Step, class F, class P>
constexpr bool step_takes(NotATuple<P>) {
  return SplatNeedsATuple<Decayed<P>, Step>::ok;
}

// A predicate: a step that returns something that tests as a bool.
template <class Op, bool Splat, class P, class F>
constexpr bool predicate_takes() {
  if constexpr (!step_takes<Op, F>(PassedAs<Splat, P>{})) {
    return false;
  } else if constexpr (using R = StepResult<Step<F>, PassedAs<Splat, P>>; !std::is_constructible_v<bool, R>) {
    return PredicateMustReturnBool<R, Op>::ok;
  } else {
    return true;
  }
}

// --- the chain ---------------------------------------------------------------

// A chain runs two ways. run(world, in) returns the last step's output;
// DAG arms and merges use it. run_into(world, in, next) hands each step's
// output to the rest of the chain as a call instead (continuation-passing):
// an operation that branches (filter, guard) then calls the rest of the
// chain only where it has a value, so nothing is merged back into one
// optional and the compiler lays the code out as hand-written if/else
// (measured: the merged optional cost 10% on a 3-step pipeline, its fields
// being computed before the branch that discards them). Pipelines run this way.
struct Source {
  template <class In>
  In&& run(World&, In&& in) {
    return std::forward<In>(in);
  }
  template <class In, class Next>
  [[gnu::always_inline]] void run_into(World&, In&& in, Next& next) {
    next(std::forward<In>(in));
  }
};

template <class Op, class X>
decltype(auto) run_op(Op& op, World& world, X&& x);
template <class Op, class X, class Next>
[[gnu::always_inline]] inline void run_op_into(Op& op, World& world, X&& x, Next& next);

template <class Prev, class Op>
struct Link {
  [[no_unique_address]] Prev prev;
  [[no_unique_address]] Op op;
  template <class In>
  decltype(auto) run(World& world, In&& in) {
    return run_op(op, world, prev.run(world, std::forward<In>(in)));
  }
  // Forced inline: a branching step calls the rest of the chain from two
  // places, which the inliner's size limits would otherwise turn into an
  // out-of-line call (measured: 2.4x on a 5-step pipeline).
  template <class In, class Next>
  [[gnu::always_inline]] void run_into(World& world, In&& in, Next& next) {
    auto rest = [this, &world, &next](auto&& x) __attribute__((always_inline)) {
      run_op_into(op, world, std::forward<decltype(x)>(x), next);
    };
    prev.run_into(world, std::forward<In>(in), rest);
  }
};

// The end of a chain run by run_into: the last output is dropped.
struct DropOutput {
  template <class... X>
  void operator()(X&&...) const noexcept {}
};

// Stands for a step whose static_assert has fired, and for every step added
// after it: it carries Unchecked on, which no step checks. Never run, since
// the program does not compile.
struct Skipped {
  template <class X>
  Unchecked apply(World&, X&&) {
    return {};
  }
};

// The link of a Skipped step runs nothing before it, so that a chain with a
// mistake type-checks whatever came before (a step returning void included).
template <class Prev>
struct Link<Prev, Skipped> {
  [[no_unique_address]] Prev prev;
  [[no_unique_address]] Skipped op;
  template <class In>
  Unchecked run(World&, In&&) {
    return {};
  }
  template <class In, class Next>
  void run_into(World&, In&&, Next& next) {
    next(Unchecked{});
  }
};

template <class Op, class X>
auto apply_lifted(Op& op, World& world, X&& x) {
  using D = Decayed<X>;
  if constexpr (is_optional_expected<D>) {
    using R = Decayed<decltype(op.apply_one(world, *std::forward<X>(x)))>;
    // optional's and_then/transform build the result in place: moving a
    // freshly built expected into an optional costs a store-forwarding
    // stall per step (measured: 7x on a five-step chain).
    if constexpr (is_optional<R>) {
      return std::forward<X>(x).and_then(
          [&](auto&& inner) -> R { return op.apply_one(world, std::forward<decltype(inner)>(inner)); });
    } else {
      return std::forward<X>(x).transform(
          [&](auto&& inner) -> R { return op.apply_one(world, std::forward<decltype(inner)>(inner)); });
    }
  } else {
    return op.apply_one(world, std::forward<X>(x));
  }
}

// Runs one operation on the previous output. An operation that declares
// `sees_through_optional` defines apply_one() for a plain optional or
// expected, and apply_lifted() carries it through an optional<expected>;
// the others define apply() themselves.
template <class Op, class X>
decltype(auto) run_op(Op& op, World& world, X&& x) {
  if constexpr (requires { typename Op::sees_through_optional; }) {
    return apply_lifted(op, world, std::forward<X>(x));
  } else {
    return op.apply(world, std::forward<X>(x));
  }
}

// What a chain carries after operation Op on X.
template <class Op, class X>
struct OutputOfImpl {
  using type = decltype(run_op(std::declval<Op&>(), std::declval<World&>(), std::declval<X>()));
};
template <class X>
struct OutputOfImpl<Skipped, X> {
  using type = Unchecked;
};
template <class Op, class X>
using OutputOf = typename OutputOfImpl<Op, X>::type;

// The rest of the chain for an input a step has emptied, as its own
// function: inlined beside the value path it would double the code the
// value path runs through and upset its layout (measured: +10% on a 5-step
// pipeline), while most steps do nothing with an empty input.
template <class Empty, class Next>
[[gnu::noinline]] void run_rest_on_empty(Next& next) {
  next(Empty());
}

// run_into's step: an operation with apply_into() branches into the rest of
// the chain itself; any other hands its output on.
template <class Op, class X, class Next>
[[gnu::always_inline]] inline void run_op_into(Op& op, World& world, X&& x, Next& next) {
  if constexpr (requires { op.apply_into(world, std::forward<X>(x), next); }) {
    op.apply_into(world, std::forward<X>(x), next);
  } else if constexpr (std::is_void_v<decltype(run_op(op, world, std::forward<X>(x)))>) {
    run_op(op, world, std::forward<X>(x));
    next();
  } else {
    next(run_op(op, world, std::forward<X>(x)));
  }
}

// --- the operations ------------------------------------------------------------
// Each takes the previous output X and returns the next one. F is the step
// function's type; `Splat` is SplatTuple when splat() came just before, and
// empty otherwise, so that the usual name reads Then<F>.

template <class F, class... Splat>
struct Then {
  static constexpr bool kSplat = sizeof...(Splat) != 0;
  Step<F> step;
  template <class X>
  static constexpr bool check() {
    return step_takes<Then, F>(PassedAs<kSplat, AsPassed<X&&>>{});
  }
  template <class X>
  decltype(auto) apply(World& world, X&& x) {
    using R = decltype(apply_step<kSplat>(step, world, std::forward<X>(x)));
    if constexpr (std::is_void_v<R>) {
      apply_step<kSplat>(step, world, std::forward<X>(x));
    } else {
      return Decayed<R>(apply_step<kSplat>(step, world, std::forward<X>(x)));
    }
  }
};

template <class F, class... Splat>
struct Map {
  static constexpr bool kSplat = sizeof...(Splat) != 0;
  Step<F> step;
  using sees_through_optional = void;
  template <class X>
  static constexpr bool check() {
    if constexpr (!has_value_or_error<X>) {
      return MapNeedsOptionalOrExpected<Decayed<X>, Map>::ok;
    } else {
      return step_takes<Map, F>(PassedAs<kSplat, ValuePassed<X>>{});
    }
  }
  template <class X>
  auto apply_one(World& world, X&& x) {
    using D = Decayed<X>;
    if constexpr (is_optional<D>) {
      using R = decltype(apply_step<kSplat>(step, world, *std::forward<X>(x)));
      if constexpr (std::is_void_v<R>) {
        if (x) apply_step<kSplat>(step, world, *std::forward<X>(x));
      } else {
        // Built in place by transform (see apply_lifted).
        return std::forward<X>(x).transform([&](auto&& value) -> Decayed<R> {
          return apply_step<kSplat>(step, world, std::forward<decltype(value)>(value));
        });
      }
    } else {
      using R = decltype(apply_step<kSplat>(step, world, *std::forward<X>(x)));
      using E = typename D::error_type;
      if constexpr (std::is_void_v<R>) {
        using Out = std::expected<void, E>;
        if (x) {
          apply_step<kSplat>(step, world, *std::forward<X>(x));
          return Out();
        }
        return Out(std::unexpect, std::forward<X>(x).error());
      } else {
        using Out = std::expected<Decayed<R>, E>;
        if (x) return Out(apply_step<kSplat>(step, world, *std::forward<X>(x)));
        return Out(std::unexpect, std::forward<X>(x).error());
      }
    }
  }
};

// On optional<T>: empty unless pred holds. On expected<T, E>: an
// optional<expected<T, E>>, empty when a value fails pred (errors pass). On a
// plain value: like guard().
template <class F, class... Splat>
struct Filter {
  static constexpr bool kSplat = sizeof...(Splat) != 0;
  Step<F> step;
  using sees_through_optional = void;
  template <class X>
  static constexpr bool check() {
    if constexpr (has_value_or_error<X>) {
      return predicate_takes<Filter, kSplat, ValueLookedAt<X>, F>();
    } else {
      return predicate_takes<Filter, kSplat, const Decayed<X>&, F>();
    }
  }
  template <class X>
  auto apply_one(World& world, X&& x) {
    using D = Decayed<X>;
    if constexpr (is_optional<D>) {
      if (x && apply_step<kSplat>(step, world, std::as_const(*x))) return D(std::forward<X>(x));
      return D();
    } else if constexpr (is_expected<D>) {
      using Out = std::optional<D>;
      if (x && !apply_step<kSplat>(step, world, std::as_const(*x))) return Out();
      return Out(std::forward<X>(x));
    } else {
      using Out = std::optional<D>;
      if (apply_step<kSplat>(step, world, std::as_const(x))) return Out(std::forward<X>(x));
      return Out();
    }
  }
  // Within run_into: on an optional (not one holding an expected), the same
  // optional goes on when the predicate holds and an empty one otherwise.
  template <class X, class Next>
    requires(is_optional<Decayed<X>> && !is_optional_expected<Decayed<X>>)
  [[gnu::always_inline]] void apply_into(World& world, X&& x, Next& next) {
    if (x && apply_step<kSplat>(step, world, std::as_const(*x))) {
      next(std::forward<X>(x));
    } else {
      run_rest_on_empty<Decayed<X>>(next);
    }
  }
};

template <class R, class E>
inline constexpr bool is_expected_with_error = false;
template <class T, class E>
inline constexpr bool is_expected_with_error<std::expected<T, E>, E> = true;
template <class R, class T>
inline constexpr bool is_expected_with_value = false;
template <class T, class E>
inline constexpr bool is_expected_with_value<std::expected<T, E>, T> = true;

template <class F, class... Splat>
struct AndThen {
  static constexpr bool kSplat = sizeof...(Splat) != 0;
  Step<F> step;
  using sees_through_optional = void;
  template <class X>
  static constexpr bool check() {
    if constexpr (!has_value_or_error<X>) {
      return NeedsOptionalOrExpected<Decayed<X>, AndThen>::ok;
    } else if constexpr (!step_takes<AndThen, F>(PassedAs<kSplat, ValuePassed<X>>{})) {
      return false;
    } else {
      using L = Decayed<Lifted<X>>;
      using R = Decayed<StepResult<Step<F>, PassedAs<kSplat, ValuePassed<X>>>>;
      if constexpr (is_optional<L>) {
        if constexpr (is_optional<R>) {
          return true;
        } else {
          return AndThenMustReturnOptional<R, AndThen>::ok;
        }
      } else if constexpr (is_expected_with_error<R, typename L::error_type>) {
        return true;
      } else {
        return AndThenMustReturnExpected<R, typename L::error_type, AndThen>::ok;
      }
    }
  }
  template <class X>
  auto apply_one(World& world, X&& x) {
    using D = Decayed<X>;
    using R = Decayed<decltype(apply_step<kSplat>(step, world, *std::forward<X>(x)))>;
    if constexpr (is_optional<D>) {
      if (x) return R(apply_step<kSplat>(step, world, *std::forward<X>(x)));
      return R();
    } else {
      if (x) return R(apply_step<kSplat>(step, world, *std::forward<X>(x)));
      return R(std::unexpect, std::forward<X>(x).error());
    }
  }
};

template <class F, class... Splat>
struct Inspect {
  static constexpr bool kSplat = sizeof...(Splat) != 0;
  Step<F> step;
  template <class X>
  static constexpr bool check() {
    if constexpr (!has_value_or_error<X>) {
      return NeedsOptionalOrExpected<Decayed<X>, Inspect>::ok;
    } else {
      return step_takes<Inspect, F>(PassedAs<kSplat, ValueLookedAt<X>>{});
    }
  }
  template <class X>
  PassThrough<X&&> apply(World& world, X&& x) {
    using D = Decayed<X>;
    if constexpr (is_optional_expected<D>) {
      if (x && *x) apply_step<kSplat>(step, world, std::as_const(**x));
    } else {
      if (x) apply_step<kSplat>(step, world, std::as_const(*x));
    }
    return std::forward<X>(x);
  }
};

template <class F>
struct OnNone {
  Step<F> step;
  template <class X>
  static constexpr bool check() {
    if constexpr (!is_optional<X>) {
      return NeedsOptional<Decayed<X>, OnNone>::ok;
    } else {
      return step_takes<OnNone, F>(TypeList<>{});
    }
  }
  template <class X>
  PassThrough<X&&> apply(World& world, X&& x) {
    if (!x) step(world);
    return std::forward<X>(x);
  }
};

template <class Error>
struct OkOr {
  Error error;
  template <class X>
  static constexpr bool check() {
    if constexpr (!is_optional<X>) {
      return NeedsOptional<Decayed<X>, OkOr>::ok;
    } else {
      return true;
    }
  }
  template <class X>
  auto apply(World&, X&& x) {
    using D = Decayed<X>;
    if constexpr (is_optional_expected<D>) {
      // Empty becomes the given error; errors and values pass.
      using Out = typename D::value_type;
      if (x) return Out(*std::forward<X>(x));
      return Out(std::unexpect, error);
    } else {
      using Out = std::expected<typename D::value_type, Error>;
      if (x) return Out(*std::forward<X>(x));
      return Out(std::unexpect, error);
    }
  }
};

template <class Default>
struct UnwrapOr {
  Default fallback;
  template <class X>
  static constexpr bool check() {
    if constexpr (!has_value_or_error<X>) {
      return NeedsOptionalOrExpected<Decayed<X>, UnwrapOr>::ok;
    } else if constexpr (using T = Decayed<ValuePassed<X>>; !std::is_constructible_v<T, Default&>) {
      return UnwrapOrFallbackIsNotAValue<Default, T>::ok;
    } else {
      return true;
    }
  }
  template <class X>
  auto apply(World&, X&& x) {
    using D = Decayed<X>;
    if constexpr (is_optional_expected<D>) {
      using T = typename D::value_type::value_type;
      if (x && *x) return T(**std::forward<X>(x));
      return T(fallback);
    } else {
      using T = typename D::value_type;
      if (x) return T(*std::forward<X>(x));
      return T(fallback);
    }
  }
};

template <class F>
struct OnError {
  Step<F> step;
  using sees_through_optional = void;
  template <class X>
  static constexpr bool check() {
    if constexpr (!is_expected<Lifted<X>>) {
      return NeedsExpected<Decayed<X>, OnError>::ok;
    } else {
      return step_takes<OnError, F>(TypeList<ErrorPassed<X>>{});
    }
  }
  template <class X>
  auto apply_one(World& world, X&& x) {
    using D = Decayed<X>;
    using Out = std::optional<typename D::value_type>;
    if (x) return Out(*std::forward<X>(x));
    step(world, std::forward<X>(x).error());
    return Out();
  }
};

template <class F>
struct MapError {
  Step<F> step;
  using sees_through_optional = void;
  template <class X>
  static constexpr bool check() {
    if constexpr (!is_expected<Lifted<X>>) {
      return NeedsExpected<Decayed<X>, MapError>::ok;
    } else if constexpr (!step_takes<MapError, F>(TypeList<ErrorPassed<X>>{})) {
      return false;
    } else if constexpr (std::is_void_v<StepResult<Step<F>, TypeList<ErrorPassed<X>>>>) {
      return MapErrorMustReturnAnError<MapError>::ok;
    } else {
      return true;
    }
  }
  template <class X>
  auto apply_one(World& world, X&& x) {
    using D = Decayed<X>;
    using F2 = Decayed<decltype(step(world, std::forward<X>(x).error()))>;
    using Out = std::expected<typename D::value_type, F2>;
    if (x) return Out(*std::forward<X>(x));
    return Out(std::unexpect, step(world, std::forward<X>(x).error()));
  }
};

template <class F>
struct OrElse {
  Step<F> step;
  using sees_through_optional = void;
  template <class X>
  static constexpr bool check() {
    if constexpr (!is_expected<Lifted<X>>) {
      return NeedsExpected<Decayed<X>, OrElse>::ok;
    } else if constexpr (!step_takes<OrElse, F>(TypeList<ErrorPassed<X>>{})) {
      return false;
    } else {
      using T = typename Decayed<Lifted<X>>::value_type;
      using R = Decayed<StepResult<Step<F>, TypeList<ErrorPassed<X>>>>;
      if constexpr (is_expected_with_value<R, T>) {
        return true;
      } else {
        return OrElseMustReturnExpected<R, T, OrElse>::ok;
      }
    }
  }
  template <class X>
  auto apply_one(World& world, X&& x) {
    using R = Decayed<decltype(step(world, std::forward<X>(x).error()))>;
    if (x) return R(*std::forward<X>(x));
    return R(step(world, std::forward<X>(x).error()));
  }
};

template <class F>
struct InspectError {
  Step<F> step;
  template <class X>
  static constexpr bool check() {
    if constexpr (!is_expected<Lifted<X>>) {
      return NeedsExpected<Decayed<X>, InspectError>::ok;
    } else {
      return step_takes<InspectError, F>(TypeList<ErrorLookedAt<X>>{});
    }
  }
  template <class X>
  PassThrough<X&&> apply(World& world, X&& x) {
    using D = Decayed<X>;
    if constexpr (is_optional_expected<D>) {
      if (x && !*x) step(world, std::as_const(x->error()));
    } else {
      if (!x) step(world, std::as_const(x.error()));
    }
    return std::forward<X>(x);
  }
};

struct Ok {
  using sees_through_optional = void;
  template <class X>
  static constexpr bool check() {
    if constexpr (!is_expected<Lifted<X>>) {
      return NeedsExpected<Decayed<X>, Ok>::ok;
    } else {
      return true;
    }
  }
  template <class X>
  auto apply_one(World&, X&& x) {
    using D = Decayed<X>;
    using Out = std::optional<typename D::value_type>;
    if (x) return Out(*std::forward<X>(x));
    return Out();
  }
};

template <class F, class... Splat>
struct Tap {
  static constexpr bool kSplat = sizeof...(Splat) != 0;
  Step<F> step;
  template <class X>
  static constexpr bool check() {
    return step_takes<Tap, F>(PassedAs<kSplat, const Decayed<X>&>{});
  }
  template <class X>
  PassThrough<X&&> apply(World& world, X&& x) {
    apply_step<kSplat>(step, world, std::as_const(x));
    return std::forward<X>(x);
  }
};

template <class F, class... Splat>
struct Guard {
  static constexpr bool kSplat = sizeof...(Splat) != 0;
  Step<F> step;
  template <class X>
  static constexpr bool check() {
    return predicate_takes<Guard, kSplat, const Decayed<X>&, F>();
  }
  template <class X>
  auto apply(World& world, X&& x) {
    using Out = std::optional<Decayed<X>>;
    if (apply_step<kSplat>(step, world, std::as_const(x))) return Out(std::forward<X>(x));
    return Out();
  }
  template <class X, class Next>
  [[gnu::always_inline]] void apply_into(World& world, X&& x, Next& next) {
    using Out = std::optional<Decayed<X>>;
    if (apply_step<kSplat>(step, world, std::as_const(x))) {
      next(Out(std::forward<X>(x)));
    } else {
      next(Out());
    }
  }
};

// Passes a value on only when it differs from the last one passed on.
template <class T>
struct Dedup {
  std::optional<T> last;
  template <class X>
  static constexpr bool check() {
    return true;
  }
  template <class X>
  auto apply(World&, X&& x) {
    using D = Decayed<X>;
    if constexpr (is_optional<D>) {
      if (!x || (last && *last == *x)) return std::optional<T>();
      last = *x;
      return std::optional<T>(*std::forward<X>(x));
    } else {
      if (last && *last == x) return std::optional<T>();
      last = x;
      return std::optional<T>(std::forward<X>(x));
    }
  }
};

// fn(Accumulator&, value) -> output; the accumulator lives in the pipeline.
template <class F, class Accumulator>
struct Scan {
  Step<F> step;
  Accumulator accumulator;
  template <class X>
  static constexpr bool check() {
    return step_takes<Scan, F>(TypeList<Accumulator&, AsPassed<X&&>>{});
  }
  template <class X>
  decltype(auto) apply(World& world, X&& x) {
    using R = decltype(step(world, accumulator, std::forward<X>(x)));
    if constexpr (std::is_void_v<R>) {
      step(world, accumulator, std::forward<X>(x));
    } else {
      return Decayed<R>(step(world, accumulator, std::forward<X>(x)));
    }
  }
};

template <class H>
struct Dispatch {
  H handler;
  // A handler of the value inside an optional, unless it takes the optional.
  template <class X>
  static constexpr bool unwraps = is_optional<X> && !std::is_convertible_v<X&&, typename H::event_type>;
  template <class X>
  static constexpr bool check() {
    using E = typename H::event_type;
    if constexpr (unwraps<X>) {
      if constexpr (std::is_convertible_v<decltype(*std::declval<X>()), E>) {
        return true;
      } else {
        return DispatchedHandlerDoesNotTakeTheValue<E, AsPassed<decltype(*std::declval<X>())>>::ok;
      }
    } else if constexpr (std::is_convertible_v<X&&, E>) {
      return true;
    } else {
      return DispatchedHandlerDoesNotTakeTheValue<E, AsPassed<X&&>>::ok;
    }
  }
  template <class X>
  void apply(World& world, X&& x) {
    if constexpr (unwraps<X>) {
      if (x) handler.run(world, *std::forward<X>(x));
    } else {
      handler.run(world, std::forward<X>(x));
    }
  }
};

template <class V>
struct ValueOfImpl {
  using type = V;
};
template <class T>
struct ValueOfImpl<std::optional<T>> {
  using type = T;
};
template <class T, class E>
struct ValueOfImpl<std::expected<T, E>> {
  using type = T;
};
template <class V>
using ValueOf = typename ValueOfImpl<Decayed<V>>::type;

// --- adding an operation to a chain that carries X -------------------------------

// The operation Op for function F, spreading a tuple when splat() came before.
template <template <class, class...> class Op, class F, bool Splat>
using StepOp = std::conditional_t<Splat, Op<F, SplatTuple>, Op<F>>;

// Whether a step may follow a chain carrying X: not after a step returning
// void (one static_assert, naming the step added), and silently not after
// a mistake (the chain carries Unchecked).
template <class X, class Next>
constexpr bool chain_continues() {
  if constexpr (std::is_void_v<X>) {
    return PipelineHasEnded<Next>::ok;
  } else {
    return !is_unchecked<X>;
  }
}

// The operation Op, with its step function `fn`, for a chain carrying X; or
// Skipped when its check has reported a mistake. Diagnostics come from here,
// so the builder that called it appears once in the compiler's backtrace.
template <class Op, class X, class F>
auto add_step(const Registry& registry, F&& fn, const std::source_location& site) {
  if constexpr (!chain_continues<X, Op>()) {
    return Skipped{};
  } else if constexpr (!Op::template check<X>()) {
    return Skipped{};
  } else {
    return Op{make_step(registry, std::forward<F>(fn), callable_name(fn, site))};
  }
}

// As add_step, for an operation without a step function.
template <class X, class Op>
auto add_op(Op op) {
  if constexpr (!chain_continues<X, Op>()) {
    return Skipped{};
  } else if constexpr (!Op::template check<X>()) {
    return Skipped{};
  } else {
    return op;
  }
}

// dedup() on a chain carrying X (its value type is known only once X is).
template <class X>
auto add_dedup() {
  if constexpr (!chain_continues<X, Dedup<Unchecked>>()) {
    return Skipped{};
  } else {
    return Dedup<ValueOf<X>>{};
  }
}

template <class X, class Accumulator, class F>
auto add_scan(const Registry& registry, Accumulator init, F&& fn, const std::source_location& site) {
  using Op = Scan<std::decay_t<F>, Accumulator>;
  if constexpr (!chain_continues<X, Op>()) {
    return Skipped{};
  } else if constexpr (!Op::template check<X>()) {
    return Skipped{};
  } else {
    return Op{make_step(registry, std::forward<F>(fn), callable_name(fn, site)), std::move(init)};
  }
}

}  // namespace keel::internal
