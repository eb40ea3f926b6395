// The operations a keel::PipelineBuilder composes (rt/pipeline.h): the chain
// (Source, Link) and one struct per combinator. Not for users: the builder
// and the DAG shapes (rt/dag.h) are the way in.
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
#pragma once

#include <cstddef>
#include <expected>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

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

// How many inputs a step on values of type V receives.
template <bool Splat, class V>
constexpr std::size_t inputs_for() {
  if constexpr (Splat) {
    static_assert(is_tuple<V>, "keel: splat() spreads a std::tuple or std::pair; the previous step produces neither.");
    return std::tuple_size_v<Decayed<V>>;
  } else {
    return 1;
  }
}

// Instantiated when a combinator is used on a chain it does not apply to.
template <class Chain>
struct MapNeedsOptionalOrExpected {
  static_assert(dependent_false<Chain>,
                "keel: map() applies to a chain carrying std::optional or std::expected; this chain carries a plain "
                "value (the type in 'MapNeedsOptionalOrExpected<T>'). Use then() for plain values.");
  static constexpr bool ok = false;
};
template <class Chain>
struct NeedsExpected {
  static_assert(dependent_false<Chain>,
                "keel: on_error(), map_error(), or_else(), inspect_error() and ok() apply to a chain carrying "
                "std::expected; this chain carries the type in 'NeedsExpected<T>'.");
  static constexpr bool ok = false;
};
template <class Chain>
struct NeedsOptional {
  static_assert(dependent_false<Chain>,
                "keel: on_none() and ok_or() apply to a chain carrying std::optional; this chain carries the type "
                "in 'NeedsOptional<T>'.");
  static constexpr bool ok = false;
};
template <class Chain>
struct NeedsOptionalOrExpected {
  static_assert(dependent_false<Chain>,
                "keel: and_then(), inspect() and unwrap_or() apply to a chain carrying std::optional or "
                "std::expected; this chain carries the type in 'NeedsOptionalOrExpected<T>'.");
  static constexpr bool ok = false;
};

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

// --- the operations ------------------------------------------------------------
// Each takes the previous output X and returns the next one.

template <class S, bool Splat>
struct ThenOp {
  S step;
  template <class X>
  decltype(auto) apply(World& world, X&& x) {
    using R = decltype(apply_step<Splat>(step, world, std::forward<X>(x)));
    if constexpr (std::is_void_v<R>) {
      apply_step<Splat>(step, world, std::forward<X>(x));
    } else {
      return Decayed<R>(apply_step<Splat>(step, world, std::forward<X>(x)));
    }
  }
};

// A chain may carry std::optional<std::expected<T, E>> (an optional chain
// mapped through a fallible step): "no value", "error" or "value". Value and
// error combinators see through the outer optional; an empty optional stays
// empty, and a result that is itself an optional is flattened into it.
template <class D>
inline constexpr bool is_optional_expected = false;
template <class T>
inline constexpr bool is_optional_expected<std::optional<T>> = is_expected<T>;

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

template <class S, bool Splat>
struct MapOp {
  S step;
  using sees_through_optional = void;
  template <class X>
  auto apply_one(World& world, X&& x) {
    using D = Decayed<X>;
    if constexpr (is_optional<D>) {
      using R = decltype(apply_step<Splat>(step, world, *std::forward<X>(x)));
      if constexpr (std::is_void_v<R>) {
        if (x) apply_step<Splat>(step, world, *std::forward<X>(x));
      } else {
        // Built in place by transform (see apply_lifted).
        return std::forward<X>(x).transform([&](auto&& value) -> Decayed<R> {
          return apply_step<Splat>(step, world, std::forward<decltype(value)>(value));
        });
      }
    } else if constexpr (is_expected<D>) {
      using R = decltype(apply_step<Splat>(step, world, *std::forward<X>(x)));
      using E = typename D::error_type;
      if constexpr (std::is_void_v<R>) {
        using Out = std::expected<void, E>;
        if (x) {
          apply_step<Splat>(step, world, *std::forward<X>(x));
          return Out();
        }
        return Out(std::unexpect, std::forward<X>(x).error());
      } else {
        using Out = std::expected<Decayed<R>, E>;
        if (x) return Out(apply_step<Splat>(step, world, *std::forward<X>(x)));
        return Out(std::unexpect, std::forward<X>(x).error());
      }
    } else {
      static_cast<void>(MapNeedsOptionalOrExpected<D>::ok);  // the one error; the chain goes on as then()
      return failed_step_result<typename S::declared_result>();
    }
  }
};

// On optional<T>: empty unless pred holds. On expected<T, E>: an
// optional<expected<T, E>>, empty when a value fails pred (errors pass). On a
// plain value: like guard().
template <class S, bool Splat>
struct FilterOp {
  S step;
  using sees_through_optional = void;
  template <class X>
  auto apply_one(World& world, X&& x) {
    using D = Decayed<X>;
    if constexpr (is_optional<D>) {
      if (x && apply_step<Splat>(step, world, std::as_const(*x))) return D(std::forward<X>(x));
      return D();
    } else if constexpr (is_expected<D>) {
      using Out = std::optional<D>;
      if (x && !apply_step<Splat>(step, world, std::as_const(*x))) return Out();
      return Out(std::forward<X>(x));
    } else {
      using Out = std::optional<D>;
      if (apply_step<Splat>(step, world, std::as_const(x))) return Out(std::forward<X>(x));
      return Out();
    }
  }
  // Within run_into: on an optional (not one holding an expected), the same
  // optional goes on when the predicate holds and an empty one otherwise.
  template <class X, class Next>
    requires(is_optional<Decayed<X>> && !is_optional_expected<Decayed<X>>)
  [[gnu::always_inline]] void apply_into(World& world, X&& x, Next& next) {
    if (x && apply_step<Splat>(step, world, std::as_const(*x))) {
      next(std::forward<X>(x));
    } else {
      run_rest_on_empty<Decayed<X>>(next);
    }
  }
};

template <class S, bool Splat>
struct AndThenOp {
  S step;
  using sees_through_optional = void;
  template <class X>
  auto apply_one(World& world, X&& x) {
    using D = Decayed<X>;
    if constexpr (is_optional<D> || is_expected<D>) {
      using R = Decayed<decltype(apply_step<Splat>(step, world, *std::forward<X>(x)))>;
      if constexpr (is_optional<D>) {
        static_assert(is_optional<R>, "keel: and_then() on std::optional takes a function returning std::optional.");
        if (x) return R(apply_step<Splat>(step, world, *std::forward<X>(x)));
        return R();
      } else {
        static_assert(is_expected<R> && std::is_same_v<typename R::error_type, typename D::error_type>,
                      "keel: and_then() on std::expected<T, E> takes a function returning std::expected<U, E> "
                      "with the same error type E (use map_error() to convert first).");
        if (x) return R(apply_step<Splat>(step, world, *std::forward<X>(x)));
        return R(std::unexpect, std::forward<X>(x).error());
      }
    } else {
      static_cast<void>(NeedsOptionalOrExpected<D>::ok);
      return failed_step_result<typename S::declared_result>();
    }
  }
};

template <class S, bool Splat>
struct InspectOp {
  S step;
  template <class X>
  PassThrough<X&&> apply(World& world, X&& x) {
    using D = Decayed<X>;
    if constexpr (is_optional_expected<D>) {
      if (x && *x) apply_step<Splat>(step, world, std::as_const(**x));
    } else if constexpr (is_optional<D> || is_expected<D>) {
      if (x) apply_step<Splat>(step, world, std::as_const(*x));
    } else {
      static_cast<void>(NeedsOptionalOrExpected<D>::ok);
    }
    return std::forward<X>(x);
  }
};

template <class S>
struct OnNoneOp {
  S step;
  template <class X>
  PassThrough<X&&> apply(World& world, X&& x) {
    if constexpr (is_optional<X>) {
      if (!x) step(world);
    } else {
      static_cast<void>(NeedsOptional<Decayed<X>>::ok);
    }
    return std::forward<X>(x);
  }
};

template <class Error>
struct OkOrOp {
  Error error;
  template <class X>
  auto apply(World&, X&& x) {
    using D = Decayed<X>;
    if constexpr (is_optional_expected<D>) {
      // Empty becomes the given error; errors and values pass.
      using Out = typename D::value_type;
      if (x) return Out(*std::forward<X>(x));
      return Out(std::unexpect, error);
    } else if constexpr (is_optional<D>) {
      using Out = std::expected<typename D::value_type, Error>;
      if (x) return Out(*std::forward<X>(x));
      return Out(std::unexpect, error);
    } else {
      static_cast<void>(NeedsOptional<D>::ok);
      return failed_step_result<std::conditional_t<is_expected<D>, D, std::expected<D, Error>>>();
    }
  }
};

template <class Default>
struct UnwrapOrOp {
  Default fallback;
  template <class X>
  auto apply(World&, X&& x) {
    using D = Decayed<X>;
    if constexpr (is_optional_expected<D>) {
      using T = typename D::value_type::value_type;
      if (x && *x) return T(**std::forward<X>(x));
      return T(fallback);
    } else if constexpr (is_optional<D> || is_expected<D>) {
      using T = typename D::value_type;
      if (x) return T(*std::forward<X>(x));
      return T(fallback);
    } else {
      static_cast<void>(NeedsOptionalOrExpected<D>::ok);
      return failed_step_result<D>();
    }
  }
};

template <class S>
struct OnErrorOp {
  S step;
  using sees_through_optional = void;
  template <class X>
  auto apply_one(World& world, X&& x) {
    using D = Decayed<X>;
    if constexpr (is_expected<D>) {
      using Out = std::optional<typename D::value_type>;
      if (x) return Out(*std::forward<X>(x));
      step(world, std::forward<X>(x).error());
      return Out();
    } else {
      static_cast<void>(NeedsExpected<D>::ok);
      return failed_step_result<std::conditional_t<is_optional<D>, D, std::optional<D>>>();
    }
  }
};

template <class S>
struct MapErrorOp {
  S step;
  using sees_through_optional = void;
  template <class X>
  auto apply_one(World& world, X&& x) {
    using D = Decayed<X>;
    if constexpr (is_expected<D>) {
      using F = Decayed<decltype(step(world, std::forward<X>(x).error()))>;
      using Out = std::expected<typename D::value_type, F>;
      if (x) return Out(*std::forward<X>(x));
      return Out(std::unexpect, step(world, std::forward<X>(x).error()));
    } else {
      static_cast<void>(NeedsExpected<D>::ok);
      return failed_step_result<D>();
    }
  }
};

template <class S>
struct OrElseOp {
  S step;
  using sees_through_optional = void;
  template <class X>
  auto apply_one(World& world, X&& x) {
    using D = Decayed<X>;
    if constexpr (is_expected<D>) {
      using R = Decayed<decltype(step(world, std::forward<X>(x).error()))>;
      static_assert(is_expected<R> && std::is_same_v<typename R::value_type, typename D::value_type>,
                    "keel: or_else() on std::expected<T, E> takes a function of E returning std::expected<T, F>.");
      if (x) return R(*std::forward<X>(x));
      return R(step(world, std::forward<X>(x).error()));
    } else {
      static_cast<void>(NeedsExpected<D>::ok);
      return failed_step_result<D>();
    }
  }
};

template <class S>
struct InspectErrorOp {
  S step;
  template <class X>
  PassThrough<X&&> apply(World& world, X&& x) {
    using D = Decayed<X>;
    if constexpr (is_optional_expected<D>) {
      if (x && !*x) step(world, std::as_const(x->error()));
    } else if constexpr (is_expected<D>) {
      if (!x) step(world, std::as_const(x.error()));
    } else {
      static_cast<void>(NeedsExpected<D>::ok);
    }
    return std::forward<X>(x);
  }
};

struct OkOp {
  using sees_through_optional = void;
  template <class X>
  auto apply_one(World&, X&& x) {
    using D = Decayed<X>;
    if constexpr (is_expected<D>) {
      using Out = std::optional<typename D::value_type>;
      if (x) return Out(*std::forward<X>(x));
      return Out();
    } else {
      static_cast<void>(NeedsExpected<D>::ok);
      return failed_step_result<std::conditional_t<is_optional<D>, D, std::optional<D>>>();
    }
  }
};

template <class S, bool Splat>
struct TapOp {
  S step;
  template <class X>
  PassThrough<X&&> apply(World& world, X&& x) {
    apply_step<Splat>(step, world, std::as_const(x));
    return std::forward<X>(x);
  }
};

template <class S, bool Splat>
struct GuardOp {
  S step;
  template <class X>
  auto apply(World& world, X&& x) {
    using Out = std::optional<Decayed<X>>;
    if (apply_step<Splat>(step, world, std::as_const(x))) return Out(std::forward<X>(x));
    return Out();
  }
  template <class X, class Next>
  [[gnu::always_inline]] void apply_into(World& world, X&& x, Next& next) {
    using Out = std::optional<Decayed<X>>;
    if (apply_step<Splat>(step, world, std::as_const(x))) {
      next(Out(std::forward<X>(x)));
    } else {
      next(Out());
    }
  }
};

// Passes a value on only when it differs from the last one passed on.
template <class T>
struct DedupOp {
  std::optional<T> last;
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
template <class S, class Accumulator>
struct ScanOp {
  S step;
  Accumulator accumulator;
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
struct DispatchOp {
  H handler;
  template <class X>
  void apply(World& world, X&& x) {
    using D = Decayed<X>;
    using E = typename H::event_type;
    if constexpr (is_optional<D> && !std::is_convertible_v<X&&, E>) {
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

}  // namespace keel::internal
