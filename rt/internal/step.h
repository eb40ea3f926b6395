// Steps: one function in a pipeline or DAG, with its keel parameters
// resolved, and the compile-time check that a step function can take what
// its combinator passes it. A step function takes keel parameters first and
// its inputs last, like a handler; generic lambdas (auto inputs) are allowed
// when they take no keel parameters, since the pipeline knows the input type.
//
// How a mistake is reported: step_takes() runs before the step is built and
// fires one static_assert, in one of the diagnostic structs below, whose
// template arguments carry the facts (the offending type, its 1-based
// position among the function's parameters, and the step, an operation of
// rt/internal/pipeline_ops.h named after its combinator, e.g. Map<F>). The
// step is then replaced by Skipped and the chain carries Unchecked, which
// no later step checks, so one mistake is one error.
#pragma once

#include <cstddef>
#include <expected>
#include <optional>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "rt/internal/signature.h"
#include "rt/internal/type_name.h"
#include "rt/param.h"

namespace keel::internal {

template <class T>
struct IsOptional : std::false_type {};
template <class T>
struct IsOptional<std::optional<T>> : std::true_type {};
template <class T>
inline constexpr bool is_optional = IsOptional<std::remove_cvref_t<T>>::value;

template <class T>
struct IsExpected : std::false_type {};
template <class T, class E>
struct IsExpected<std::expected<T, E>> : std::true_type {};
template <class T>
inline constexpr bool is_expected = IsExpected<std::remove_cvref_t<T>>::value;

template <class T>
struct IsTuple : std::false_type {};
template <class... T>
struct IsTuple<std::tuple<T...>> : std::true_type {};
template <class... T>
struct IsTuple<std::pair<T...>> : std::true_type {};
template <class T>
inline constexpr bool is_tuple = IsTuple<std::remove_cvref_t<T>>::value;

// The first N types of a list.
template <std::size_t N, class Done, class Todo>
struct TakeImpl {
  using type = Done;
};
template <std::size_t N, class... Done, class T, class... Rest>
  requires(N > 0)
struct TakeImpl<N, TypeList<Done...>, TypeList<T, Rest...>> : TakeImpl<N - 1, TypeList<Done..., T>, TypeList<Rest...>> {};
template <std::size_t N, class List>
using Take = typename TakeImpl<N, TypeList<>, List>::type;

template <std::size_t N, class List>
struct DropImpl {
  using type = List;
};
template <std::size_t N, class T, class... Rest>
  requires(N > 0)
struct DropImpl<N, TypeList<T, Rest...>> : DropImpl<N - 1, TypeList<Rest...>> {};
template <std::size_t N, class List>
using Drop = typename DropImpl<N, List>::type;

template <std::size_t I, class List>
struct AtImpl;
template <class T, class... Rest>
struct AtImpl<0, TypeList<T, Rest...>> {
  using type = T;
};
template <std::size_t I, class T, class... Rest>
  requires(I > 0)
struct AtImpl<I, TypeList<T, Rest...>> : AtImpl<I - 1, TypeList<Rest...>> {};
template <std::size_t I, class List>
using At = typename AtImpl<I, List>::type;

// A type as it is passed to a step: an rvalue of T reads as T (moved or
// made there), an lvalue as the reference it is. Diagnostics show these.
template <class T>
using AsPassed = std::conditional_t<std::is_rvalue_reference_v<T>, std::remove_reference_t<T>, T>;

// The elements of a tuple or pair as std::apply passes them after splat().
template <class Tuple, class = std::make_index_sequence<std::tuple_size_v<std::remove_cvref_t<Tuple>>>>
struct TupleItemsImpl;
template <class Tuple, std::size_t... I>
struct TupleItemsImpl<Tuple, std::index_sequence<I...>> {
  using type = TypeList<AsPassed<decltype(std::get<I>(std::declval<Tuple>()))>...>;
};
template <class Tuple>
using TupleItems = typename TupleItemsImpl<Tuple>::type;

// What a chain carries after a step whose static_assert has fired. No step
// checks it, so that the rest of the chain adds no error of its own.
struct Unchecked {};
template <class X>
inline constexpr bool is_unchecked = std::is_same_v<std::remove_cvref_t<X>, Unchecked>;

// An argument a step function takes before its inputs: a keel parameter,
// or the World (whose misuse CheckHandlerParams explains).
template <class A>
inline constexpr bool is_param_arg = Param<std::remove_cvref_t<A>> || names_world<A>;

// How a readable parameter list splits: the keel parameters up to the first
// argument that is not one, then the inputs. `late_param` is the first keel
// parameter among the inputs (`size` when none is).
template <class Args>
struct ArgsSplit;
template <class... A>
struct ArgsSplit<TypeList<A...>> {
  static constexpr std::size_t size = sizeof...(A);
  static constexpr std::size_t first_input = [] {
    constexpr bool param[] = {is_param_arg<A>..., false};
    std::size_t i = 0;
    while (param[i]) ++i;
    return i;
  }();
  static constexpr std::size_t late_param = [] {
    constexpr bool param[] = {is_param_arg<A>..., true};
    std::size_t i = first_input;
    while (!param[i]) ++i;
    return i;
  }();
  static constexpr std::size_t inputs = size - first_input;
  using Params = Take<first_input, TypeList<A...>>;
  using Inputs = Drop<first_input, TypeList<A...>>;
};

// The index of the first input that cannot be initialised from what is
// passed in its place (the list's size when every one can).
template <class Inputs, class Passed>
struct FirstMismatch;
template <class... A, class... P>
struct FirstMismatch<TypeList<A...>, TypeList<P...>> {
  static constexpr std::size_t index = [] {
    constexpr bool fits[] = {std::is_convertible_v<P, A>..., false};
    std::size_t i = 0;
    while (i < sizeof...(A) && fits[i]) ++i;
    return i;
  }();
};

// --- diagnostics -----------------------------------------------------------
// Each is instantiated only for the mistake it names; `Step` is the
// operation named after the combinator, holding the function's type.

template <class T, std::size_t Position, class Step>
struct StepParameterIsNotAKeelParameter {
  static_assert(dependent_false<T>,
                "keel: a step function takes keel parameters (Res<T>, ResMut<T>, Local<T>, Seq, ...) first, then "
                "exactly the inputs its combinator passes (one value; a tuple's elements after splat(); the "
                "accumulator and the value for scan()). The argument at 'Position' of the step in "
                "'StepParameterIsNotAKeelParameter<T, Position, Step>' is neither. Capture a value of your own in "
                "the lambda or keep it in a Local<T> or a resource, and take the input last.");
  static constexpr bool ok = false;
};

template <class P, std::size_t Position, class Step>
struct StepTakesAKeelParameterAfterItsInput {
  static_assert(dependent_false<P>,
                "keel: a step function takes its keel parameters first and its inputs last; the keel parameter in "
                "'StepTakesAKeelParameterAfterItsInput<P, Position, Step>' comes after an input. Move it to the "
                "front.");
  static constexpr bool ok = false;
};

template <std::size_t Takes, std::size_t Passed, class Step>
struct StepTakesTooFewInputs {
  static_assert(Takes >= Passed,
                "keel: a step function takes fewer inputs than its combinator passes: in "
                "'StepTakesTooFewInputs<Takes, Passed, Step>' the first number is how many it takes after its keel "
                "parameters, the second how many it is passed (splat() passes one per tuple element, scan() the "
                "accumulator and then the value). Add the missing inputs at the end.");
  static constexpr bool ok = false;
};

template <class Takes, class Passed, std::size_t Position, class Step>
struct StepInputDoesNotMatchPreviousOutput {
  static_assert(dependent_false<Takes>,
                "keel: a step's input does not match the previous step's output: in "
                "'StepInputDoesNotMatchPreviousOutput<Takes, Passed, Position, Step>' the argument at Position "
                "takes the first type and is passed the second (the previous output, or the value or error inside "
                "its std::optional or std::expected, as the combinator hands it on). Take the type passed "
                "(const& to avoid a copy), or convert it in a step before this one.");
  static constexpr bool ok = false;
};

template <class Step, class... Passed>
struct StepCannotTakeItsInputs {
  static_assert(dependent_false<Step>,
                "keel: this step function cannot be called with what its combinator passes, the types after the "
                "step in 'StepCannotTakeItsInputs<Step, Passed...>'. A generic lambda (auto parameters) cannot "
                "take keel parameters: spell out its parameter types.");
  static constexpr bool ok = false;
};

// Whether a step function F (shown as `Step` in diagnostics) takes keel
// parameters followed by exactly `Passed...`. A mistake fires one
// static_assert and gives false.
template <class Step, class F, class... Passed>
constexpr bool step_takes(TypeList<Passed...>) {
  using Sig = Signature<std::remove_cvref_t<F>>;
  if constexpr (!Sig::known) {
    if constexpr (std::is_invocable_v<std::remove_cvref_t<F>&, Passed...>) {
      return true;
    } else {
      return StepCannotTakeItsInputs<Step, Passed...>::ok;
    }
  } else {
    using Split = ArgsSplit<typename Sig::Args>;
    using Args = typename Sig::Args;
    if constexpr (Split::late_param < Split::size) {
      return StepTakesAKeelParameterAfterItsInput<std::remove_cvref_t<At<Split::late_param, Args>>,
                                                  Split::late_param + 1, Step>::ok;
    } else if constexpr (Split::inputs > sizeof...(Passed)) {
      return StepParameterIsNotAKeelParameter<std::remove_cvref_t<At<Split::first_input, Args>>,
                                              Split::first_input + 1, Step>::ok;
    } else if constexpr (Split::inputs < sizeof...(Passed)) {
      return StepTakesTooFewInputs<Split::inputs, sizeof...(Passed), Step>::ok;
    } else if constexpr (!CheckHandlerParams<typename Split::Params, void>::value) {
      return false;  // CheckHandlerParams has explained it
    } else if constexpr (constexpr std::size_t i = FirstMismatch<typename Split::Inputs, TypeList<Passed...>>::index;
                         i < sizeof...(Passed)) {
      return StepInputDoesNotMatchPreviousOutput<At<i, typename Split::Inputs>, At<i, TypeList<Passed...>>,
                                                 Split::first_input + i + 1, Step>::ok;
    } else if constexpr (!ParamSetFor<typename Split::Params>::type::template invocable<std::remove_cvref_t<F>,
                                                                                       Passed...>) {
      return StepCannotTakeItsInputs<Step, Passed...>::ok;
    } else {
      return true;
    }
  }
}

// How a step function splits into keel parameters and inputs: its leading
// keel parameters (none for an unreadable callable). A list with a mistake
// gets no ParamSet of its own, so naming the step adds no error.
template <class F>
struct StepShape {
  template <class S, bool Known = S::known>
  struct Split {
    using Params = TypeList<>;
  };
  template <class S>
  struct Split<S, true> {
    using Params = typename ArgsSplit<typename S::Args>::Params;
  };
  using Params = typename Split<Signature<F>>::Params;
  using ParamSet = typename std::conditional_t<AllParams<Params>::value, ParamSetFor<Params>,
                                               std::type_identity<internal::ParamSet<>>>::type;
};

template <class F>
class Step {
 public:
  using ParamSet = typename StepShape<F>::ParamSet;

  Step(ParamSet params, F fn) : params_(std::move(params)), fn_(std::move(fn)) {}

  // Fetches the parameters and calls the function (step_takes() has
  // checked that it takes these inputs).
  template <class... In>
  decltype(auto) operator()(World& world, In&&... in) {
    return params_.call(fn_, world, std::forward<In>(in)...);
  }

 private:
  ParamSet params_;
  [[no_unique_address]] F fn_;
};

// What step S returns for the inputs in List.
template <class S, class List>
struct StepResultImpl;
template <class S, class... P>
struct StepResultImpl<S, TypeList<P...>> {
  using type = decltype(std::declval<S&>()(std::declval<World&>(), std::declval<P>()...));
};
template <class S, class List>
using StepResult = typename StepResultImpl<S, List>::type;

// A step with its parameters resolved against the registry (ConfigError
// naming `owner` when a resource is missing).
template <class F>
Step<std::decay_t<F>> make_step(const Registry& registry, F&& fn, std::string_view owner) {
  using S = Step<std::decay_t<F>>;
  return S(S::ParamSet::resolve(registry, owner), std::forward<F>(fn));
}

}  // namespace keel::internal
