// DAGs: pipelines that fan out and merge. A fork's arms each read the fork
// value by const&, run their own chain of steps, and a merge step combines
// their outputs. The topology lives in the types: no allocation, no virtual
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

template <class Expects, class ArmOutputs>
struct MergeFunctionDoesNotTakeArmOutputs {
  static_assert(dependent_false<Expects>,
                "keel: a merge function must take the arms' outputs, in arm order, after its keel parameters; in "
                "'MergeFunctionDoesNotTakeArmOutputs<Expects, ArmOutputs>' the first list is what the function "
                "takes, the second what the arms produce.");
  static constexpr bool ok = false;
};

template <class Expects, class Produces>
struct RouteArmsDisagree {
  static_assert(dependent_false<Expects>,
                "keel: both arms of route() must produce the same type (or both nothing); see "
                "'RouteArmsDisagree<True, False>'.");
  static constexpr bool ok = false;
};

// The chain of an arm built from `const V&`.
template <class V, class ArmFn>
using ArmChainOf = decltype(std::declval<ArmFn&>()(
    std::declval<PipelineBuilder<const V&, Source>>()).take_chain());

template <class Chain, class V>
using ArmOutput = decltype(std::declval<Chain&>().run(std::declval<World&>(), std::declval<const V&>()));

template <class S, class... Arms>
struct MergeOp {
  std::tuple<Arms...> arms;
  S step;

  template <class X>
  decltype(auto) apply(World& world, X&& x) {
    const auto& value = x;
    // The arms run in the order they were added: a braced list is evaluated
    // left to right (function arguments are not). The tuple holds references
    // to the arms' results, which live until the merge step returns.
    return std::apply(
        [&](Arms&... arm) -> decltype(auto) {
          return merge_all(std::index_sequence_for<Arms...>{}, world,
                           std::tuple<decltype(arm.run(world, value))&&...>{arm.run(world, value)...});
        },
        arms);
  }

 private:
  template <std::size_t... I, class Outputs>
  decltype(auto) merge_all(std::index_sequence<I...>, World& world, Outputs&& outputs) {
    return merge(world, std::get<I>(std::move(outputs))...);
  }

  template <class... Outputs>
  decltype(auto) merge(World& world, Outputs&&... outputs) {
    if constexpr (S::template accepts<Outputs...>) {
      using R = decltype(step(world, std::forward<Outputs>(outputs)...));
      if constexpr (std::is_void_v<R>) {
        step(world, std::forward<Outputs>(outputs)...);
      } else {
        return Decayed<R>(step(world, std::forward<Outputs>(outputs)...));
      }
    } else {
      static_cast<void>(MergeFunctionDoesNotTakeArmOutputs<typename S::input_args, TypeList<Outputs...>>::ok);
      return failed_step_result<typename S::declared_result>();
    }
  }
};

template <class... Arms>
struct JoinOp {
  std::tuple<Arms...> arms;
  template <class X>
  void apply(World& world, X&& x) {
    const auto& value = x;
    std::apply([&](Arms&... arm) { (static_cast<void>(arm.run(world, value)), ...); }, arms);
  }
};

template <class S, class ArmTrue, class ArmFalse>
struct RouteOp {
  S predicate;
  ArmTrue on_true;
  ArmFalse on_false;
  template <class X>
  decltype(auto) apply(World& world, X&& x) {
    const auto& value = x;
    using T = decltype(on_true.run(world, value));
    using F = decltype(on_false.run(world, value));
    if constexpr (!std::is_same_v<Decayed<T>, Decayed<F>>) {
      static_cast<void>(RouteArmsDisagree<T, F>::ok);
      return failed_step_result<Decayed<T>>();
    } else if constexpr (std::is_void_v<T>) {
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
struct TeeOp {
  Arm arm;
  template <class X>
  PassThrough<X&&> apply(World& world, X&& x) {
    static_cast<void>(arm.run(world, std::as_const(x)));
    return std::forward<X>(x);
  }
};

}  // namespace internal

// Collects the arms of a fork; merge() or join() closes it.
template <class In, class Chain, class... Arms>
class ForkBuilder {
 public:
  using fork_value = std::remove_cvref_t<typename PipelineBuilder<In, Chain>::output_type>;

  ForkBuilder(PipelineBuilder<In, Chain> parent, std::tuple<Arms...> arms)
      : parent_(std::move(parent)), arms_(std::move(arms)) {}

  // Adds an arm: `build(start)` gets a pipeline builder whose input is the
  // fork value (const&) and returns the builder it made from it.
  template <class ArmFn>
  auto arm(ArmFn&& build) && {
    auto arm_builder = std::forward<ArmFn>(build)(parent_.template arm_start<fork_value>());
    auto chain = std::move(arm_builder).take_chain();
    return ForkBuilder<In, Chain, Arms..., decltype(chain)>(
        std::move(parent_), std::tuple_cat(std::move(arms_), std::make_tuple(std::move(chain))));
  }

  // Combines the arms' outputs with fn(params..., out_1, ..., out_n); its
  // result is the DAG's value from here on. Needs at least two arms.
  template <class F>
  auto merge(F&& fn, std::source_location site = std::source_location::current()) && {
    static_assert(sizeof...(Arms) >= 2, "keel: merge() combines two or more arms; add arms with arm() first.");
    auto step = internal::make_step<sizeof...(Arms)>(parent_.registry(), std::forward<F>(fn),
                                                     internal::callable_name(fn, site));
    return std::move(parent_).next(internal::MergeOp<decltype(step), Arms...>{std::move(arms_), std::move(step)});
  }

  // Ends the fork without merging: the arms are sinks, and the DAG ends here.
  auto join() && {
    static_assert(sizeof...(Arms) >= 1, "keel: join() ends a fork that has arms; add arms with arm() first.");
    return std::move(parent_).next(internal::JoinOp<Arms...>{std::move(arms_)});
  }

 private:
  PipelineBuilder<In, Chain> parent_;
  std::tuple<Arms...> arms_;
};

// Starts a DAG whose event is In. root(fn) is its first step.
template <class In>
auto dag(const Registry& registry, std::source_location site = std::source_location::current()) {
  return PipelineBuilder<In, internal::Source>(registry, internal::Source{}, internal::site_name("dag", site));
}

// --- PipelineBuilder members that build DAG shapes ----------------------------

template <class In, class Chain, bool Splat>
template <class F>
auto PipelineBuilder<In, Chain, Splat>::root(F&& fn, std::source_location site) {
  return then(std::forward<F>(fn), site);
}

template <class In, class Chain, bool Splat>
auto PipelineBuilder<In, Chain, Splat>::fork() {
  check_can_continue();
  return ForkBuilder<In, Chain>(PipelineBuilder<In, Chain>(*registry_, std::move(chain_), name_), std::tuple<>{});
}

template <class In, class Chain, bool Splat>
template <class Pred, class ArmTrue, class ArmFalse>
auto PipelineBuilder<In, Chain, Splat>::route(Pred&& pred, ArmTrue&& arm_true, ArmFalse&& arm_false,
                                             std::source_location site) {
  check_can_continue();
  using V = std::remove_cvref_t<output_type>;
  auto predicate = internal::make_step<1>(*registry_, std::forward<Pred>(pred), internal::callable_name(pred, site));
  auto on_true = std::forward<ArmTrue>(arm_true)(arm_start<V>()).take_chain();
  auto on_false = std::forward<ArmFalse>(arm_false)(arm_start<V>()).take_chain();
  return next(internal::RouteOp<decltype(predicate), decltype(on_true), decltype(on_false)>{
      std::move(predicate), std::move(on_true), std::move(on_false)});
}

template <class In, class Chain, bool Splat>
template <class ArmFn>
auto PipelineBuilder<In, Chain, Splat>::tee(ArmFn&& arm) {
  check_can_continue();
  using V = std::remove_cvref_t<output_type>;
  auto chain = std::forward<ArmFn>(arm)(arm_start<V>()).take_chain();
  return next(internal::TeeOp<decltype(chain)>{std::move(chain)});
}

}  // namespace keel
