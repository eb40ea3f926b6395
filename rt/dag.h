// DAGs: pipelines that fan out and merge. A fork's arms each read the fork
// value by const&, run their own chain of steps, and a merge step combines
// their outputs, in arm order, optionally preceded by the fork value itself
// (const V&). The topology lives in the types: no allocation, no virtual
// call, everything inlinable.
//
//   auto d = keel::dag<Tick>(reg).root(decode)
//                .fork()
//                .arm([](auto a) { return a.then(update_mid); })
//                .arm([](auto b) { return b.then(update_vol); })
//                .merge(compute_fair)          // (const Mid&, const Vol&) -> Fair
//                .then(publish)
//                .build();
//
// Also: join() ends a fork without merging (the arms are sinks); route(pred,
// arm_true, arm_false) runs one of two arms; tee(arm) runs a side arm and
// continues with the value. Arms are pipeline builders, so every pipeline
// combinator (map, filter, on_error, ...) works inside them.
#pragma once

#include <cstddef>
#include <source_location>
#include <tuple>
#include <type_traits>
#include <utility>

#include "rt/pipeline.h"

namespace keel {
namespace internal {

// --- diagnostics -------------------------------------------------------------
// `Merge` is Merge<F>, F the merge function's type; positions are 1-based
// among its parameters, arms are numbered in the order they were added.

template <class Takes, class ArmOutput, std::size_t Position, std::size_t Arm, class Merge>
struct MergeInputDoesNotMatchArmOutput {
  static_assert(dependent_false<Takes>,
                "keel: a merge receives the arms' outputs in arm order, optionally preceded by the forked value "
                "(const V&), after its keel parameters; in 'MergeInputDoesNotMatchArmOutput<Takes, ArmOutput, "
                "Position, Arm, Merge>' the argument at Position takes the first type, and arm number Arm produces "
                "the second. Reorder the arguments to match the arms, or change what the arm produces.");
  static constexpr bool ok = false;
};

template <class Takes, class Forked, std::size_t Position, class Merge>
struct MergeForkedValueDoesNotMatch {
  static_assert(dependent_false<Takes>,
                "keel: a merge receives the arms' outputs in arm order, optionally preceded by the forked value "
                "(const V&); this merge function takes one argument more than there are arms, so the argument at "
                "Position in 'MergeForkedValueDoesNotMatch<Takes, Forked, Position, Merge>' is the forked value, "
                "but it takes the first type where the fork passes the second. Take the forked value as that "
                "type, or drop the argument (a value of your own belongs in a capture, a Local<T> or a resource).");
  static constexpr bool ok = false;
};

template <std::size_t Takes, std::size_t Arms, class Merge>
struct MergeTakesWrongNumberOfInputs {
  static_assert(Takes == Arms,
                "keel: a merge receives the arms' outputs in arm order, optionally preceded by the forked value "
                "(const V&), after its keel parameters; in 'MergeTakesWrongNumberOfInputs<Takes, Arms, Merge>' "
                "the first number is how many arguments the function takes after its keel parameters, the second "
                "the number of arms, so it must take Arms or Arms + 1 of them.");
  static constexpr bool ok = false;
};

template <std::size_t Arm, class Merge>
struct MergeArmProducesNothing {
  static_assert(Arm == 0,
                "keel: a merge combines the values its arms produce, but arm number Arm in "
                "'MergeArmProducesNothing<Arm, Merge>' ends with a step returning void. Return a value from it, or "
                "end the fork with join() if every arm is a sink.");
  static constexpr bool ok = false;
};

template <std::size_t Arms, class Merge>
struct MergeNeedsTwoArms {
  static_assert(Arms >= 2, "keel: merge() combines two or more arms; add arms with arm() first (or use then() "
                           "for a single chain).");
  static constexpr bool ok = false;
};

template <std::size_t Arms>
struct JoinNeedsAnArm {
  static_assert(Arms >= 1, "keel: join() ends a fork that has arms; add arms with arm() first.");
  static constexpr bool ok = false;
};

template <class True, class False>
struct RouteArmsDisagree {
  static_assert(dependent_false<True>,
                "keel: both arms of route() must produce the same type (or both nothing); see "
                "'RouteArmsDisagree<True, False>'. Make the arms end with the same type.");
  static constexpr bool ok = false;
};

template <class Returned>
struct ArmMustReturnItsBuilder {
  static_assert(dependent_false<Returned>,
                "keel: an arm function receives a pipeline builder and returns the builder it made from it, "
                "e.g. [](auto a) { return a.then(f); }; this one returns the type in "
                "'ArmMustReturnItsBuilder<Returned>'.");
  static constexpr bool ok = false;
};

// What an arm's chain produces from `const V&`, and how a merge receives it.
template <class Chain, class V>
using ArmOutput = decltype(std::declval<Chain&>().run(std::declval<World&>(), std::declval<const V&>()));
template <class Chain, class V>
using ArmPassed = AsPassed<ArmOutput<Chain, V>&&>;

// Whether merge function F (shown as Merge<F>) takes keel parameters, then
// optionally the forked value, then the arms' outputs. One static_assert
// per mistake.
template <class Merge, class F, class Forked, class... Outs>
constexpr bool merge_takes(TypeList<Outs...>) {
  using Sig = Signature<F>;
  constexpr std::size_t arms = sizeof...(Outs);
  if constexpr (!Sig::known) {
    // Which form a generic lambda has is read from whether it can take the
    // outputs alone; the forms differ in arity, so trying one does not
    // instantiate the body for the other.
    if constexpr (std::is_invocable_v<F&, Outs...>) {
      return true;
    } else if constexpr (std::is_invocable_v<F&, Forked, Outs...>) {
      return true;
    } else {
      return StepCannotTakeItsInputs<Merge, Outs...>::ok;
    }
  } else {
    using Args = typename Sig::Args;
    using Split = ArgsSplit<Args>;
    if constexpr (Split::late_param < Split::size) {
      return StepTakesAKeelParameterAfterItsInput<std::remove_cvref_t<At<Split::late_param, Args>>,
                                                  Split::late_param + 1, Merge>::ok;
    } else if constexpr (Split::inputs != arms && Split::inputs != arms + 1) {
      return MergeTakesWrongNumberOfInputs<Split::inputs, arms, Merge>::ok;
    } else if constexpr (!CheckHandlerParams<typename Split::Params, void>::value) {
      return false;  // CheckHandlerParams has explained it
    } else {
      constexpr std::size_t forked = Split::inputs - arms;
      using ArmInputs = Drop<Split::first_input + forked, Args>;
      constexpr std::size_t i = FirstMismatch<ArmInputs, TypeList<Outs...>>::index;
      using ParamSet = typename ParamSetFor<typename Split::Params>::type;
      if constexpr (forked == 1 && !std::is_convertible_v<Forked, At<Split::first_input, Args>>) {
        return MergeForkedValueDoesNotMatch<At<Split::first_input, Args>, Forked, Split::first_input + 1, Merge>::ok;
      } else if constexpr (i < arms) {
        return MergeInputDoesNotMatchArmOutput<At<i, ArmInputs>, At<i, TypeList<Outs...>>,
                                               Split::first_input + forked + i + 1, i + 1, Merge>::ok;
      } else if constexpr (forked == 0) {
        if constexpr (ParamSet::template invocable<F, Outs...>) {
          return true;
        } else {
          return StepCannotTakeItsInputs<Merge, Outs...>::ok;
        }
      } else if constexpr (ParamSet::template invocable<F, Forked, Outs...>) {
        return true;
      } else {
        return StepCannotTakeItsInputs<Merge, Forked, Outs...>::ok;
      }
    }
  }
}

// The first arm (0-based) whose chain ends with a void step, or sizeof...(Arms).
template <class V, class... Arms>
constexpr std::size_t first_void_arm() {
  constexpr bool empty[] = {std::is_void_v<ArmOutput<Arms, V>>..., true};
  std::size_t i = 0;
  while (!empty[i]) ++i;
  return i;
}

// Runs the arms on the fork value and merges their outputs with
// fn(params..., [const V& forked,] out_1, ..., out_n). As a diagnostic's
// `Merge`, Merge<F> without arms names the merge function.
template <class F, class... Arms>
struct Merge {
  std::tuple<Arms...> arms;
  Step<F> step;

  // Whether F takes the forked value before the arms' outputs: one
  // argument more than there are arms (or, for a generic lambda, not
  // callable with the outputs alone).
  template <class V>
  static constexpr bool takes_forked() {
    if constexpr (Signature<F>::known) {
      return ArgsSplit<typename Signature<F>::Args>::inputs == sizeof...(Arms) + 1;
    } else {
      return !std::is_invocable_v<F&, ArmPassed<Arms, V>...>;
    }
  }

  // Called on Merge<F> with the arms to merge, so that a diagnostic's
  // backtrace names the function without the arms' chains.
  template <class X, class... ArmsToMerge>
  static constexpr bool check() {
    using V = Decayed<X>;
    if constexpr (constexpr std::size_t empty = first_void_arm<V, ArmsToMerge...>(); empty < sizeof...(ArmsToMerge)) {
      return MergeArmProducesNothing<empty + 1, Merge>::ok;
    } else {
      return merge_takes<Merge, F, const V&>(TypeList<ArmPassed<ArmsToMerge, V>...>{});
    }
  }

  template <class X>
  decltype(auto) apply(World& world, X&& x) {
    const auto& value = x;
    // The arms run in the order they were added: a braced list is evaluated
    // left to right (function arguments are not). The tuple holds references
    // to the arms' results, which live until the merge step returns.
    if constexpr (takes_forked<Decayed<X>>()) {
      return std::apply(
          [&](Arms&... arm) -> decltype(auto) {
            return merge_all(std::index_sequence_for<Arms...>{}, world, value,
                             std::tuple<decltype(arm.run(world, value))&&...>{arm.run(world, value)...});
          },
          arms);
    } else {
      return std::apply(
          [&](Arms&... arm) -> decltype(auto) {
            return merge_all(std::index_sequence_for<Arms...>{}, world,
                             std::tuple<decltype(arm.run(world, value))&&...>{arm.run(world, value)...});
          },
          arms);
    }
  }

 private:
  template <std::size_t... I, class Outputs>
  decltype(auto) merge_all(std::index_sequence<I...>, World& world, Outputs&& outputs) {
    return merge(world, std::get<I>(std::move(outputs))...);
  }
  template <std::size_t... I, class V, class Outputs>
  decltype(auto) merge_all(std::index_sequence<I...>, World& world, const V& forked, Outputs&& outputs) {
    return merge(world, forked, std::get<I>(std::move(outputs))...);
  }

  template <class... Outputs>
  decltype(auto) merge(World& world, Outputs&&... outputs) {
    using R = decltype(step(world, std::forward<Outputs>(outputs)...));
    if constexpr (std::is_void_v<R>) {
      step(world, std::forward<Outputs>(outputs)...);
    } else {
      return Decayed<R>(step(world, std::forward<Outputs>(outputs)...));
    }
  }
};

template <class... Arms>
struct Join {
  std::tuple<Arms...> arms;
  template <class X>
  void apply(World& world, X&& x) {
    const auto& value = x;
    std::apply([&](Arms&... arm) { (static_cast<void>(arm.run(world, value)), ...); }, arms);
  }
};

// Runs one of two arms, chosen by the predicate F. As a diagnostic's step,
// Route<F> without arms names the predicate.
template <class F, class... Arms>
struct Route;
template <class F, class ArmTrue, class ArmFalse>
struct Route<F, ArmTrue, ArmFalse> {
  Step<F> predicate;
  ArmTrue on_true;
  ArmFalse on_false;
  template <class X>
  decltype(auto) apply(World& world, X&& x) {
    const auto& value = x;
    using T = decltype(on_true.run(world, value));
    if constexpr (std::is_void_v<T>) {
      if (predicate(world, value)) {
        on_true.run(world, value);
      } else {
        on_false.run(world, value);
      }
    } else {
      if (predicate(world, value)) return Decayed<T>(on_true.run(world, value));
      return Decayed<T>(on_false.run(world, value));
    }
  }
};

template <class Arm>
struct Tee {
  Arm arm;
  template <class X>
  PassThrough<X&&> apply(World& world, X&& x) {
    static_cast<void>(arm.run(world, std::as_const(x)));
    return std::forward<X>(x);
  }
};

// The chain of an arm: `build` gets the builder `start` and returns the
// builder it made from it.
template <class ArmFn, class Start>
auto arm_chain(ArmFn&& build, Start start) {
  using Built = decltype(std::forward<ArmFn>(build)(std::move(start)));
  if constexpr (requires { std::declval<Built>().take_chain(); }) {
    return std::forward<ArmFn>(build)(std::move(start)).take_chain();
  } else {
    static_cast<void>(ArmMustReturnItsBuilder<Built>::ok);
    return Link<Source, Skipped>{};
  }
}

// The merge of `arms` by fn for a fork of a chain carrying X, or Skipped
// when a static_assert has reported a mistake.
template <class X, class F, class... Arms>
auto add_merge(const Registry& registry, F&& fn, const std::source_location& site, std::tuple<Arms...>&& arms) {
  using Op = Merge<std::decay_t<F>, Arms...>;
  if constexpr (sizeof...(Arms) < 2) {
    static_cast<void>(MergeNeedsTwoArms<sizeof...(Arms), Merge<std::decay_t<F>>>::ok);
    return Skipped{};
  } else if constexpr (is_unchecked<X> || (is_unchecked<ArmOutput<Arms, Decayed<X>>> || ...)) {
    return Skipped{};
  } else if constexpr (!Merge<std::decay_t<F>>::template check<X, Arms...>()) {
    return Skipped{};
  } else {
    return Op{std::move(arms), make_step(registry, std::forward<F>(fn), callable_name(fn, site))};
  }
}

}  // namespace internal

// Collects the arms of a fork; merge() or join() closes it.
template <class In, class Chain, class Out, class... Arms>
class ForkBuilder {
 public:
  using fork_value = std::remove_cvref_t<Out>;

  ForkBuilder(PipelineBuilder<In, Chain, Out> parent, std::tuple<Arms...> arms)
      : parent_(std::move(parent)), arms_(std::move(arms)) {}

  // Adds an arm: `build(start)` gets a pipeline builder whose input is the
  // fork value (const&) and returns the builder it made from it.
  template <class ArmFn>
  auto arm(ArmFn&& build) && {
    auto chain = internal::arm_chain(std::forward<ArmFn>(build), parent_.template arm_start<fork_value>());
    return ForkBuilder<In, Chain, Out, Arms..., decltype(chain)>(
        std::move(parent_), std::tuple_cat(std::move(arms_), std::make_tuple(std::move(chain))));
  }

  // Combines the arms' outputs with fn(params..., out_1, ..., out_n), or
  // with fn(params..., const V& forked, out_1, ..., out_n) to see the fork
  // value too; which one is read from the number of arguments after the
  // keel parameters. The result is the DAG's value from here on. Needs at
  // least two arms.
  template <class F>
  auto merge(F&& fn, std::source_location site = std::source_location::current()) && {
    return std::move(parent_).extend(
        internal::add_merge<Out>(parent_.registry(), std::forward<F>(fn), site, std::move(arms_)));
  }

  // Ends the fork without merging: the arms are sinks, and the DAG ends here.
  auto join() && {
    if constexpr (sizeof...(Arms) == 0) {
      static_cast<void>(internal::JoinNeedsAnArm<sizeof...(Arms)>::ok);
      return std::move(parent_).extend(internal::Skipped{});
    } else {
      return std::move(parent_).extend(internal::Join<Arms...>{std::move(arms_)});
    }
  }

 private:
  PipelineBuilder<In, Chain, Out> parent_;
  std::tuple<Arms...> arms_;
};

// Starts a DAG whose event is In. root(fn) is its first step.
template <class In>
auto dag(const Registry& registry, std::source_location site = std::source_location::current()) {
  return PipelineBuilder<In, internal::Source>(registry, internal::Source{}, internal::site_name("dag", site));
}

// --- PipelineBuilder members that build DAG shapes ----------------------------

template <class In, class Chain, class Out, bool Splat>
template <class F>
auto PipelineBuilder<In, Chain, Out, Splat>::root(F&& fn, std::source_location site) {
  return extend(internal::add_step<StepOf<internal::Then, F>, Out>(*registry_, std::forward<F>(fn), site));
}

template <class In, class Chain, class Out, bool Splat>
auto PipelineBuilder<In, Chain, Out, Splat>::fork() {
  if constexpr (!internal::chain_continues<Out, internal::Fork>()) {
    return ForkBuilder<In, internal::Link<Chain, internal::Skipped>, internal::Unchecked>(extend(internal::Skipped{}),
                                                                                        std::tuple<>{});
  } else {
    return ForkBuilder<In, Chain, Out>(PipelineBuilder<In, Chain, Out>(*registry_, std::move(chain_), name_),
                                       std::tuple<>{});
  }
}

template <class In, class Chain, class Out, bool Splat>
template <class Pred, class ArmTrue, class ArmFalse>
auto PipelineBuilder<In, Chain, Out, Splat>::route(Pred&& pred, ArmTrue&& arm_true, ArmFalse&& arm_false,
                                                  std::source_location site) {
  using P = std::decay_t<Pred>;
  using V = std::remove_cvref_t<Out>;
  if constexpr (!internal::chain_continues<Out, internal::Route<P>>()) {
    return extend(internal::Skipped{});
  } else if constexpr (!internal::predicate_takes<internal::Route<P>, false, const V&, P>()) {
    return extend(internal::Skipped{});
  } else {
    auto predicate = internal::make_step(*registry_, std::forward<Pred>(pred), internal::callable_name(pred, site));
    auto on_true = internal::arm_chain(std::forward<ArmTrue>(arm_true), arm_start<V>());
    auto on_false = internal::arm_chain(std::forward<ArmFalse>(arm_false), arm_start<V>());
    using T = internal::ArmOutput<decltype(on_true), V>;
    using F = internal::ArmOutput<decltype(on_false), V>;
    if constexpr (internal::is_unchecked<T> || internal::is_unchecked<F>) {
      return extend(internal::Skipped{});  // an arm has reported its mistake
    } else if constexpr (!std::is_same_v<internal::Decayed<T>, internal::Decayed<F>>) {
      static_cast<void>(internal::RouteArmsDisagree<T, F>::ok);
      return extend(internal::Skipped{});
    } else {
      return extend(internal::Route<P, decltype(on_true), decltype(on_false)>{std::move(predicate), std::move(on_true),
                                                                              std::move(on_false)});
    }
  }
}

template <class In, class Chain, class Out, bool Splat>
template <class ArmFn>
auto PipelineBuilder<In, Chain, Out, Splat>::tee(ArmFn&& arm) {
  using V = std::remove_cvref_t<Out>;
  if constexpr (!internal::chain_continues<Out, internal::Tee<std::decay_t<ArmFn>>>()) {
    return extend(internal::Skipped{});
  } else {
    auto chain = internal::arm_chain(std::forward<ArmFn>(arm), arm_start<V>());
    return extend(internal::Tee<decltype(chain)>{std::move(chain)});
  }
}

}  // namespace keel
