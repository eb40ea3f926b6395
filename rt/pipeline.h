// Pipelines: a linear chain of steps, typed end to end and held by value, so
// a five-step pipeline compiles to the five calls written out by hand.
//
//   auto p = keel::pipeline<RawMsg>(reg)
//                .then(decode)          // RawMsg -> std::optional<Quote>
//                .filter(is_tradable)   // keeps the value when true
//                .map(to_order)         // Quote -> std::expected<Order, Reject>
//                .on_error(log_reject)  // Reject -> void; now std::optional<Order>
//                .map(send)             // runs for values only
//                .build();              // a handler of RawMsg
//
// Each step may take keel parameters before its input, like a handler; they
// are resolved when the step is added. A step whose input does not match
// the previous output, or a combinator that does not apply (map on a plain
// value, on_error without std::expected), is one static_assert at the line
// of the step, naming the step, the type and its position. For
// guaranteed inlining pass lambdas or keel::fn<&f> rather than function
// pointers. build_batch(n) gives a pipeline that owns an input buffer
// (rt/batch_pipeline.h).
//
// Not for: steps chosen at run time (a pipeline's shape is its type; keep
// boxed Handler<E>s in a list instead), one event handed to several
// independent handlers (rt/fan_out.h), or arms that branch and merge
// (rt/dag.h, whose arms are pipelines).
//
// Combinators by what the chain carries. `fn` and `pred` take keel
// parameters first, then the input shown; T is the value, E the error.
//
//   combinator         input                     does                         then carries
//   -- any chain: a plain T, or an optional or expected taken whole ----------------------------------
//   then(fn)           fn(T) -> U                calls fn                     U (void ends the chain)
//   tap(fn)            fn(const T&)              looks                        T
//   guard(pred)        pred(const T&) -> bool    keeps T when pred holds      optional<T>
//   scan(init, fn)     fn(Acc&, T) -> U          Acc kept across events       U
//   splat()            a tuple or pair           next fn takes its elements   the same tuple
//   dispatch(h)        h's event                 h.run(world, T)              nothing: ends the chain
//   -- a plain T -------------------------------------------------------------------------------------
//   filter(pred)       pred(const T&) -> bool    as guard                     optional<T>
//   dedup()            -                         drops a repeat of the last   optional<T>
//   -- std::optional<T> ------------------------------------------------------------------------------
//   map(fn)            fn(T) -> U                for a value only             optional<U>
//   filter(pred)       pred(const T&) -> bool    empties when pred fails      optional<T>
//   and_then(fn)       fn(T) -> optional<U>      for a value only             optional<U>
//   inspect(fn)        fn(const T&)              looks at a value             optional<T>
//   on_none(fn)        fn()                      runs when empty              optional<T>
//   ok_or(e)           -                         empty becomes the error e    expected<T, Error>
//   unwrap_or(d)       -                         empty becomes d              T
//   dedup()            -                         drops empties and repeats    optional<T>
//   dispatch(h)        h's event                 h.run(world, value), if any  nothing: ends the chain
//   -- std::expected<T, E> ---------------------------------------------------------------------------
//   map(fn)            fn(T) -> U                for a value only             expected<U, E>
//   filter(pred)       pred(const T&) -> bool    a failing value: empty       optional<expected<T, E>>
//   and_then(fn)       fn(T) -> expected<U, E>   for a value only             expected<U, E>
//   inspect(fn)        fn(const T&)              looks at a value             expected<T, E>
//   on_error(fn)       fn(E)                     handles the error            optional<T>
//   map_error(fn)      fn(E) -> F                converts the error           expected<T, F>
//   or_else(fn)        fn(E) -> expected<T, F>   recovers from the error      expected<T, F>
//   inspect_error(fn)  fn(const E&)              looks at an error            expected<T, E>
//   ok()               -                         drops the error              optional<T>
//   unwrap_or(d)       -                         an error becomes d           T
//
// On optional<expected<T, E>> (a filter on an expected) the expected rows
// apply to the inner expected and an empty optional stays empty; ok_or(e)
// makes the empty case the error e, unwrap_or(d) makes it d. The DAG shapes
// (root, fork, route, tee) are in rt/dag.h; the operations behind every row
// in rt/internal/pipeline_ops.h.
#pragma once

#include <cstddef>
#include <source_location>
#include <string_view>
#include <type_traits>
#include <utility>

#include "rt/handler.h"
#include "rt/internal/pipeline_ops.h"
#include "rt/internal/step.h"

namespace keel {

template <class In, class Chain>
class Pipeline;
template <class In, class Chain>
class BatchPipeline;
template <class In, class Chain, class Out, class... Arms>
class ForkBuilder;

// The builder returned by keel::pipeline<In>(registry). Each combinator
// returns a new builder whose type records the chain so far and what it
// carries (Out). A combinator that cannot apply, or whose function cannot
// take what it is passed, is one static_assert where it is written; the
// builder it returns then carries internal::Unchecked and checks nothing
// more, so that the mistake is the only error.
template <class In, class Chain, class Out = std::add_rvalue_reference_t<In>, bool Splat = false>
class PipelineBuilder {
 public:
  using input_type = In;
  // What the chain produces so far.
  using output_type = Out;

  PipelineBuilder(const Registry& registry, Chain chain, std::string_view name)
      : registry_(&registry), chain_(std::move(chain)), name_(name) {}

  // Any value -> fn(params..., value). The result (or void, which ends the
  // pipeline) is the new output.
  template <class F>
  auto then(F&& fn, std::source_location site = std::source_location::current()) {
    return extend(internal::add_step<StepOf<internal::Then, F>, Out>(*registry_, std::forward<F>(fn), site));
  }

  // optional<T> -> optional<U>, expected<T, E> -> expected<U, E>: fn(params..., T) runs for values only.
  template <class F>
  auto map(F&& fn, std::source_location site = std::source_location::current()) {
    return extend(internal::add_step<StepOf<internal::Map, F>, Out>(*registry_, std::forward<F>(fn), site));
  }

  // Keeps the value when pred(params..., const T&) is true.
  template <class F>
  auto filter(F&& pred, std::source_location site = std::source_location::current()) {
    return extend(internal::add_step<StepOf<internal::Filter, F>, Out>(*registry_, std::forward<F>(pred), site));
  }

  // optional<T> -> fn(T) -> optional<U>; expected<T, E> -> fn(T) -> expected<U, E>.
  template <class F>
  auto and_then(F&& fn, std::source_location site = std::source_location::current()) {
    return extend(internal::add_step<StepOf<internal::AndThen, F>, Out>(*registry_, std::forward<F>(fn), site));
  }

  // Looks at the value (const T&) of an optional or expected; passes it on.
  template <class F>
  auto inspect(F&& fn, std::source_location site = std::source_location::current()) {
    return extend(internal::add_step<StepOf<internal::Inspect, F>, Out>(*registry_, std::forward<F>(fn), site));
  }

  // Calls fn(params...) when an optional is empty; passes it on.
  template <class F>
  auto on_none(F&& fn, std::source_location site = std::source_location::current()) {
    return extend(internal::add_step<internal::OnNone<std::decay_t<F>>, Out>(*registry_, std::forward<F>(fn), site));
  }

  // optional<T> -> expected<T, Error>, with `error` for an empty optional.
  template <class Error>
  auto ok_or(Error error) {
    return extend(internal::add_op<Out>(internal::OkOr<Error>{std::move(error)}));
  }

  // optional<T> or expected<T, E> -> T, with `fallback` for no value.
  template <class Default>
  auto unwrap_or(Default fallback) {
    return extend(internal::add_op<Out>(internal::UnwrapOr<Default>{std::move(fallback)}));
  }

  // expected<T, E> -> optional<T>; fn(params..., E) handles each error.
  template <class F>
  auto on_error(F&& fn, std::source_location site = std::source_location::current()) {
    return extend(internal::add_step<internal::OnError<std::decay_t<F>>, Out>(*registry_, std::forward<F>(fn), site));
  }

  // expected<T, E> -> expected<T, F> with fn(params..., E) -> F.
  template <class F>
  auto map_error(F&& fn, std::source_location site = std::source_location::current()) {
    return extend(internal::add_step<internal::MapError<std::decay_t<F>>, Out>(*registry_, std::forward<F>(fn), site));
  }

  // expected<T, E> -> expected<T, F> with fn(params..., E) -> expected<T, F> (recovery).
  template <class F>
  auto or_else(F&& fn, std::source_location site = std::source_location::current()) {
    return extend(internal::add_step<internal::OrElse<std::decay_t<F>>, Out>(*registry_, std::forward<F>(fn), site));
  }

  // Looks at the error (const E&) of an expected; passes it on.
  template <class F>
  auto inspect_error(F&& fn, std::source_location site = std::source_location::current()) {
    using Op = internal::InspectError<std::decay_t<F>>;
    return extend(internal::add_step<Op, Out>(*registry_, std::forward<F>(fn), site));
  }

  // expected<T, E> -> optional<T>, dropping the error.
  auto ok() { return extend(internal::add_op<Out>(internal::Ok{})); }

  // Looks at whatever the chain carries (const&); passes it on.
  template <class F>
  auto tap(F&& fn, std::source_location site = std::source_location::current()) {
    return extend(internal::add_step<StepOf<internal::Tap, F>, Out>(*registry_, std::forward<F>(fn), site));
  }

  // T -> optional<T>: keeps the value when pred(params..., const T&) holds.
  template <class F>
  auto guard(F&& pred, std::source_location site = std::source_location::current()) {
    return extend(internal::add_step<StepOf<internal::Guard, F>, Out>(*registry_, std::forward<F>(pred), site));
  }

  // T (or optional<T>) -> optional<T>: drops a value equal to the previous one passed on.
  auto dedup() { return extend(internal::add_dedup<Out>()); }

  // fn(params..., Accumulator&, value) -> output, with the accumulator kept
  // across events (starting at `init`).
  template <class Accumulator, class F>
  auto scan(Accumulator init, F&& fn, std::source_location site = std::source_location::current()) {
    return extend(internal::add_scan<Out>(*registry_, std::move(init), std::forward<F>(fn), site));
  }

  // The next step receives a tuple's elements as separate inputs.
  auto splat() {
    if constexpr (!internal::chain_continues<Out, internal::SplatTuple>()) {
      return extend(internal::Skipped{});
    } else if constexpr (!internal::is_tuple<Out> && !internal::is_tuple<internal::ValueOf<Out>>) {
      static_cast<void>(internal::SplatNeedsATuple<internal::Decayed<Out>, internal::SplatTuple>::ok);
      return extend(internal::Skipped{});
    } else {
      return PipelineBuilder<In, Chain, Out, true>(*registry_, std::move(chain_), name_);
    }
  }

  // Runs a handler on the value (for an optional, on its value when there is one). Ends the pipeline.
  template <HandlerLike H>
  auto dispatch(H handler) {
    return extend(internal::add_op<Out>(internal::Dispatch<H>{std::move(handler)}));
  }

  // DAG shapes (defined in rt/dag.h). root(fn) is then(fn) under the name a
  // DAG reader expects; fork() starts arms; route() picks one of two arms;
  // tee() runs a side arm and continues with the value.
  template <class F>
  auto root(F&& fn, std::source_location site = std::source_location::current());
  auto fork();
  template <class Pred, class ArmTrue, class ArmFalse>
  auto route(Pred&& pred, ArmTrue&& arm_true, ArmFalse&& arm_false,
             std::source_location site = std::source_location::current());
  template <class ArmFn>
  auto tee(ArmFn&& arm);

  // The chain built so far, for a DAG arm.
  Chain take_chain() && { return std::move(chain_); }
  const Registry& registry() const noexcept { return *registry_; }

  // The finished pipeline: a concrete handler of In.
  Pipeline<In, Chain> build() && { return Pipeline<In, Chain>(*registry_, std::move(chain_), name_); }
  Pipeline<In, Chain> build() & { return Pipeline<In, Chain>(*registry_, chain_, name_); }

  // A pipeline that owns an input buffer of `capacity` items, processed by
  // run(world) each independently; nothing is allocated per run.
  BatchPipeline<In, Chain> build_batch(std::size_t capacity) && {
    return BatchPipeline<In, Chain>(*registry_, std::move(chain_), name_, capacity);
  }

 private:
  template <class, class, class, bool>
  friend class PipelineBuilder;
  template <class, class, class, class...>
  friend class ForkBuilder;

  // The operation of a step-taking combinator for function F; after
  // splat(), one that spreads the tuple over F's inputs.
  template <template <class, class...> class Op, class F>
  using StepOf = internal::StepOp<Op, std::decay_t<F>, Splat>;

  // A builder for an arm reading this chain's value by const&.
  template <class V>
  PipelineBuilder<const V&, internal::Source> arm_start() const {
    return PipelineBuilder<const V&, internal::Source>(*registry_, internal::Source{}, name_);
  }

  // The builder with `op` added to the chain.
  template <class Op>
  auto extend(Op op) {
    using NewChain = internal::Link<Chain, Op>;
    return PipelineBuilder<In, NewChain, internal::OutputOf<Op, Out>>(
        *registry_, NewChain{std::move(chain_), std::move(op)}, name_);
  }

  const Registry* registry_;
  Chain chain_;
  std::string_view name_;
};

// A finished pipeline: a concrete handler of In (boxable into Handler<In>).
template <class In, class Chain>
class Pipeline {
 public:
  using event_type = In;

  Pipeline(const Registry& registry, Chain chain, std::string_view name)
      : built_for_(registry), chain_(std::move(chain)), name_(name) {}

  void run(World& world, In event) {
    internal::check_world(built_for_, world, name_);
    internal::DropOutput discard;
    chain_.run_into(world, std::forward<In>(event), discard);
  }

  std::string_view name() const noexcept { return name_; }

 private:
  internal::WorldStamp built_for_;
  Chain chain_;
  std::string_view name_;
};

// Starts a pipeline whose event is In (a value type, or const T& to avoid a copy).
template <class In>
auto pipeline(const Registry& registry, std::source_location site = std::source_location::current()) {
  return PipelineBuilder<In, internal::Source>(registry, internal::Source{}, internal::site_name("pipeline", site));
}

}  // namespace keel

#include "rt/batch_pipeline.h"
#include "rt/dag.h"
