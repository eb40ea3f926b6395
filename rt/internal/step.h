// Steps: one function in a pipeline or DAG, with its keel parameters
// resolved. A step function takes parameters first and its inputs last,
// like a handler; generic lambdas (auto inputs) are allowed when they take no
// parameters, since the pipeline knows the input type.
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

// Instantiated only when a step cannot take what the previous step gives.
template <class StepExpects, class PreviousProduces>
struct StepInputDoesNotMatchPreviousOutput {
  static_assert(dependent_false<StepExpects>,
                "keel: a step's input does not match the previous step's output: in "
                "'StepInputDoesNotMatchPreviousOutput<Expects, Produces>' the first type is what the step takes, "
                "the second what the previous step produces.");
  static constexpr bool ok = false;
};

// Stands for the result of a step whose static_assert has fired, so that the
// rest of the chain still type-checks and one mistake gives one error.
// Declared only: it is named in code that never compiles, never called.
template <class T>
T failed_step_result() noexcept;

// What a step function declares it returns (void when it cannot be read).
template <class F, bool Known = Signature<F>::known>
struct DeclaredResult {
  using type = void;
};
template <class F>
struct DeclaredResult<F, true> {
  using type = std::remove_cvref_t<typename Signature<F>::Return>;
};

// How a step function splits into parameters and `Inputs` inputs.
template <class F, std::size_t Inputs>
struct StepShape {
  using D = std::remove_cvref_t<F>;
  using Sig = Signature<D>;
  static constexpr bool known = Sig::known;

  template <class S, bool Known = S::known>
  struct Split {
    using Params = TypeList<>;
    using InputArgs = void;  // unknown: a generic callable
    static constexpr bool ok = true;
  };
  template <class S>
  struct Split<S, true> {
    using Args = typename S::Args;
    static_assert(Args::size >= Inputs,
                  "keel: a step function takes fewer inputs than the step passes it (e.g. a splat() of a tuple "
                  "needs one parameter per element).");
    static constexpr std::size_t kParams = Args::size >= Inputs ? Args::size - Inputs : 0;
    using Params = Take<kParams, Args>;
    using InputArgs = Drop<kParams, Args>;
    static constexpr bool ok = CheckHandlerParams<Params, void>::value;
  };
  using Params = typename Split<Sig>::Params;
  using InputArgs = typename Split<Sig>::InputArgs;
  using ParamSet = typename ParamSetFor<Params>::type;
  static constexpr bool ok = Split<Sig>::ok;
};

template <class F, class Params, class InputArgs>
class Step {
 public:
  using input_args = std::conditional_t<std::is_void_v<InputArgs>, TypeList<>, InputArgs>;
  using declared_result = typename DeclaredResult<F>::type;

  Step(Params params, F fn) : params_(std::move(params)), fn_(std::move(fn)) {}

  template <class... In>
  static constexpr bool accepts = Params::template invocable<F, In...>;

  // Fetches the parameters and calls the function, or explains (at compile
  // time) why the function cannot take these inputs.
  template <class... In>
  decltype(auto) operator()(World& world, In&&... in) {
    if constexpr (accepts<In...>) {
      return params_.call(fn_, world, std::forward<In>(in)...);
    } else {
      using Expects = std::conditional_t<std::is_void_v<InputArgs>, TypeList<>, InputArgs>;
      static_cast<void>(StepInputDoesNotMatchPreviousOutput<Expects, TypeList<In...>>::ok);
      return failed_step_result<declared_result>();
    }
  }

 private:
  Params params_;
  [[no_unique_address]] F fn_;
};

// A step that takes `Inputs` inputs, its parameters resolved against the
// registry (ConfigError naming `owner` when a resource is missing).
template <std::size_t Inputs, class F>
auto make_step(const Registry& registry, F&& fn, std::string_view owner) {
  using Shape = StepShape<F, Inputs>;
  using S = Step<std::decay_t<F>, typename Shape::ParamSet, typename Shape::InputArgs>;
  return S(Shape::ParamSet::resolve(registry, owner), std::forward<F>(fn));
}

}  // namespace keel::internal
