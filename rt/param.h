// Handler parameters: how a function declares what it needs from the World.
//
// A handler's parameters before its event are keel parameters. Each one is
// resolved once, when the handler is built (missing resource → ConfigError),
// and fetched on every event at the cost of a load.
//
//   void on_fill(keel::ResMut<Position> pos, keel::Res<Limits> lim,
//                keel::Local<std::uint64_t> fills, keel::Seq seq, const Fill& f) {
//     pos->qty += f.qty;  ++*fills;
//   }
//   auto h = keel::handler(world.registry(), on_fill);
//
// Write your own parameter type by satisfying keel::Param: a nested `State`,
// `static State init(const keel::Registry&)` (build time) and
// `static P fetch(keel::World&, State&)` (dispatch time); declare
// `using Access = keel::Reads<T>` / `keel::Writes<T>` / `keel::AccessList<...>`
// so that conflicting access is caught at compile time. See docs/handlers.md.
#pragma once

#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "rt/error.h"
#include "rt/internal/signature.h"
#include "rt/internal/type_name.h"
#include "rt/registry.h"
#include "rt/world.h"

namespace keel {

// Access declarations, read by the compile-time aliasing check.
template <class T>
struct Reads {};
template <class T>
struct Writes {};
template <class... Accesses>
struct AccessList {};

// A type a handler can take before its event.
template <class P>
concept Param = requires { typename P::State; } &&
                requires(const Registry& registry, World& world, typename P::State& state) {
                  { P::init(registry) } -> std::convertible_to<typename P::State>;
                  { P::fetch(world, state) } -> std::same_as<P>;
                };

// Shared access to resource T: `const T&` through `*` and `->`.
template <class T>
class Res {
 public:
  using State = const T*;
  using Access = Reads<T>;
  static State init(const Registry& registry) { return &registry.resolve<T>(); }
  static Res fetch(World&, State state) noexcept { return Res(state); }

  const T& operator*() const noexcept { return *resource_; }
  const T* operator->() const noexcept { return resource_; }
  const T& get() const noexcept { return *resource_; }

 private:
  explicit Res(const T* resource) noexcept : resource_(resource) {}
  const T* resource_;
};

// Exclusive access to resource T: `T&` through `*` and `->`.
template <class T>
class ResMut {
 public:
  using State = T*;
  using Access = Writes<T>;
  static State init(const Registry& registry) { return &registry.resolve<T>(); }
  static ResMut fetch(World&, State state) noexcept { return ResMut(state); }

  T& operator*() const noexcept { return *resource_; }
  T* operator->() const noexcept { return resource_; }
  T& get() const noexcept { return *resource_; }

 private:
  explicit ResMut(T* resource) noexcept : resource_(resource) {}
  T* resource_;
};

// A resource that may be absent: Opt<Res<T>> or Opt<ResMut<T>>. Building
// never fails; test with `if (opt)` before dereferencing.
template <class P>
class Opt {
  static_assert(sizeof(P) == 0, "keel: Opt<P> takes Res<T> or ResMut<T>.");
};

template <class T>
class Opt<Res<T>> {
 public:
  using State = const T*;
  using Access = Reads<T>;
  static State init(const Registry& registry) noexcept { return registry.try_resolve<T>(); }
  static Opt fetch(World&, State state) noexcept { return Opt(state); }

  explicit operator bool() const noexcept { return resource_ != nullptr; }
  const T& operator*() const noexcept { return *resource_; }
  const T* operator->() const noexcept { return resource_; }
  const T* get() const noexcept { return resource_; }

 private:
  explicit Opt(const T* resource) noexcept : resource_(resource) {}
  const T* resource_;
};

template <class T>
class Opt<ResMut<T>> {
 public:
  using State = T*;
  using Access = Writes<T>;
  static State init(const Registry& registry) noexcept { return registry.try_resolve<T>(); }
  static Opt fetch(World&, State state) noexcept { return Opt(state); }

  explicit operator bool() const noexcept { return resource_ != nullptr; }
  T& operator*() const noexcept { return *resource_; }
  T* operator->() const noexcept { return resource_; }
  T* get() const noexcept { return resource_; }

 private:
  explicit Opt(T* resource) noexcept : resource_(resource) {}
  T* resource_;
};

// State owned by one handler instance, value-initialized when the handler is
// built. Copies of a handler (HandlerTemplate::generate) start from the
// template's value.
template <class T>
class Local {
 public:
  using State = T;
  static State init(const Registry&) { return T{}; }
  static Local fetch(World&, State& state) noexcept { return Local(state); }

  T& operator*() const noexcept { return *value_; }
  T* operator->() const noexcept { return value_; }
  T& get() const noexcept { return *value_; }

 private:
  explicit Local(T& value) noexcept : value_(&value) {}
  T* value_;
};

// The sequence number of the event being dispatched.
class Seq {
 public:
  struct State {};
  static State init(const Registry&) noexcept { return {}; }
  static Seq fetch(World& world, State&) noexcept { return Seq(world.sequence()); }

  std::uint64_t value() const noexcept { return value_; }
  std::uint64_t operator*() const noexcept { return value_; }
  operator std::uint64_t() const noexcept { return value_; }

 private:
  explicit Seq(std::uint64_t value) noexcept : value_(value) {}
  std::uint64_t value_;
};

// The World's Registry, for building handlers while dispatching.
class RegistryRef {
 public:
  struct State {};
  static State init(const Registry&) noexcept { return {}; }
  static RegistryRef fetch(World& world, State&) noexcept { return RegistryRef(world.registry()); }

  const Registry& operator*() const noexcept { return *registry_; }
  const Registry* operator->() const noexcept { return registry_; }
  operator const Registry&() const noexcept { return *registry_; }

 private:
  explicit RegistryRef(const Registry& registry) noexcept : registry_(&registry) {}
  const Registry* registry_;
};

namespace internal {

template <class T>
inline constexpr bool dependent_false = false;

// --- keel::World& as a parameter ----------------------------------------------
//
// A function may take `keel::World&` as its first keel parameter, for code
// that reaches many resources or builds handlers while it runs. It is not a
// keel::Param (fetch returns a reference), so parameter lists map it to
// WholeWorld; it declares no access because it rules out every other
// resource parameter instead (WorldBesideResourceParameter).

struct WholeWorld {
  struct State {};
  static State init(const Registry&) noexcept { return {}; }
  static World& fetch(World& world, State&) noexcept { return world; }
};

template <class A>
inline constexpr bool is_world_ref = std::is_same_v<A, World&>;
template <class A>
inline constexpr bool names_world = std::is_same_v<std::remove_cvref_t<A>, World>;

// The parameter type that stands for a declared argument type `A`.
template <class A>
using param_type_of = std::conditional_t<is_world_ref<A>, WholeWorld, std::remove_cvref_t<A>>;

// --- compile-time aliasing check -------------------------------------------

template <class A>
struct NormalizeAccess {
  using type = AccessList<A>;
};
template <class... A>
struct NormalizeAccess<AccessList<A...>> {
  using type = AccessList<A...>;
};

template <class P>
struct AccessOf {
  using type = AccessList<>;
};
template <class P>
  requires requires { typename P::Access; }
struct AccessOf<P> {
  using type = typename NormalizeAccess<typename P::Access>::type;
};

template <class... Lists>
struct ConcatAccess;
template <>
struct ConcatAccess<> {
  using type = AccessList<>;
};
template <class... A>
struct ConcatAccess<AccessList<A...>> {
  using type = AccessList<A...>;
};
template <class... A, class... B, class... Rest>
struct ConcatAccess<AccessList<A...>, AccessList<B...>, Rest...>
    : ConcatAccess<AccessList<A..., B...>, Rest...> {};

template <class A, class B>
struct Conflicts : std::false_type {};
template <class T>
struct Conflicts<Reads<T>, Writes<T>> : std::true_type {
  using resource = T;
};
template <class T>
struct Conflicts<Writes<T>, Reads<T>> : std::true_type {
  using resource = T;
};
template <class T>
struct Conflicts<Writes<T>, Writes<T>> : std::true_type {
  using resource = T;
};

// Instantiated only on a conflict; the compiler's "in instantiation of
// HandlerTakesConflictingAccessTo<T>" line names the resource.
template <class Resource>
struct HandlerTakesConflictingAccessTo {
  static_assert(dependent_false<Resource>,
                "keel: one handler takes the same resource twice with a write (Res<T> with ResMut<T>, or "
                "ResMut<T> twice); T is the type in 'HandlerTakesConflictingAccessTo<T>'. Take a single "
                "ResMut<T> and read through it.");
  static constexpr bool ok = false;
};

template <class A, class B>
constexpr bool pair_ok() {
  if constexpr (Conflicts<A, B>::value) {
    return HandlerTakesConflictingAccessTo<typename Conflicts<A, B>::resource>::ok;
  } else {
    return true;
  }
}

template <class List>
struct NoConflicts;
template <>
struct NoConflicts<AccessList<>> : std::true_type {};
template <class A, class... Rest>
struct NoConflicts<AccessList<A, Rest...>>
    : std::bool_constant<(pair_ok<A, Rest>() && ... && true) && NoConflicts<AccessList<Rest...>>::value> {};

template <class... Ps>
inline constexpr bool no_conflicting_access =
    NoConflicts<typename ConcatAccess<typename AccessOf<Ps>::type...>::type>::value;

// Instantiated only when a function takes keel::World& beside a parameter
// that reaches a resource; the compiler's "in instantiation of" line names it.
template <class P>
struct WorldBesideResourceParameter {
  static_assert(dependent_false<P>,
                "keel: a function that takes keel::World& cannot also take Res<T>, ResMut<T> or Opt<...>: "
                "the World reaches every resource, so the two could alias. The parameter is the type in "
                "'WorldBesideResourceParameter<P>'; reach that resource through the World (world.resource<T>()) "
                "or drop keel::World&. Local<T> and Seq may stay.");
  static constexpr bool ok = false;
};

template <class P>
constexpr bool declares_access() {
  return !std::is_same_v<typename AccessOf<P>::type, AccessList<>>;
}

// With keel::World& among `Args`, no other parameter may declare access.
template <class... Args>
constexpr bool world_beside_access_ok() {
  if constexpr (!(is_world_ref<Args> || ...)) {
    return true;
  } else {
    return ([]<class P>() {
      if constexpr (declares_access<P>()) {
        return WorldBesideResourceParameter<P>::ok;
      } else {
        return true;
      }
    }.template operator()<param_type_of<Args>>() && ... && true);
  }
}

template <std::size_t Position>
struct WorldMustBeTheFirstParameter {
  static_assert(Position == 0,
                "keel: keel::World& must be the first keel parameter (after the context of a callback or "
                "reactor); its position is in 'WorldMustBeTheFirstParameter<Position>'.");
  static constexpr bool ok = false;
};

template <class A>
struct WorldTakenByValueOrConst {
  static_assert(dependent_false<A>,
                "keel: take the World as keel::World& (non-const reference); a copy or a const World cannot "
                "be handed to a function. The declared type is in 'WorldTakenByValueOrConst<A>'.");
  static constexpr bool ok = false;
};

// Where a declared argument names keel::World: only `World&`, only first.
template <class A, std::size_t Index>
constexpr bool world_position_ok() {
  if constexpr (!is_world_ref<A>) {
    return WorldTakenByValueOrConst<A>::ok;
  } else if constexpr (Index != 0) {
    return WorldMustBeTheFirstParameter<Index + 1>::ok;
  } else {
    return true;
  }
}

// The resource of the first conflicting pair of accesses among parameters
// Ps, or void when there is none. Instantiates nothing that fails: for
// checks that report a conflict in their own words (systems).
template <class A, class B>
struct ConflictResource {
  using type = typename Conflicts<A, B>::resource;
};
template <class A, class List>
struct FirstConflictWith {
  using type = void;
};
template <class A, class B, class... Rest>
struct FirstConflictWith<A, AccessList<B, Rest...>> {
  using type = typename std::conditional_t<Conflicts<A, B>::value, ConflictResource<A, B>,
                                           FirstConflictWith<A, AccessList<Rest...>>>::type;
};
template <class List>
struct FirstConflictIn {
  using type = void;
};
template <class A, class... Rest>
struct FirstConflictIn<AccessList<A, Rest...>> {
  using with_a = typename FirstConflictWith<A, AccessList<Rest...>>::type;
  using type = typename std::conditional_t<std::is_void_v<with_a>, FirstConflictIn<AccessList<Rest...>>,
                                           std::type_identity<with_a>>::type;
};
template <class... Ps>
using first_conflicting_resource =
    typename FirstConflictIn<typename ConcatAccess<typename AccessOf<Ps>::type...>::type>::type;

// --- parameter list validation ----------------------------------------------

template <class T, std::size_t Position>
struct NotAKeelParameter {
  static_assert(dependent_false<T>,
                "keel: every handler parameter before the event must be a keel parameter (Res<T>, ResMut<T>, "
                "Opt<...>, Local<T>, Seq, RegistryRef, or a type satisfying keel::Param); the offending type "
                "and its position are in 'NotAKeelParameter<T, Position>'. Capture a value of your own in a "
                "lambda, keep it in a Local<T>, or read it from a resource.");
  static constexpr bool ok = false;
};

template <class P>
struct ParameterTakenByNonConstReference {
  static_assert(dependent_false<P>,
                "keel: take keel parameters by value (they are a pointer wide and made fresh for each call), not "
                "by non-const reference; the parameter is the type in 'ParameterTakenByNonConstReference<P>'.");
  static constexpr bool ok = false;
};

template <class Event>
struct EventMustBeLastParameter {
  static_assert(dependent_false<Event>,
                "keel: the event must be the last parameter of a handler, after every keel parameter; the "
                "misplaced type is in 'EventMustBeLastParameter<T>'. Move it to the end.");
  static constexpr bool ok = false;
};

template <class Event>
struct WorldIsNotAnEvent {
  static_assert(dependent_false<Event>,
                "keel: a handler's last parameter is its event; keel::World& goes first, before the keel "
                "parameters, and the handler still takes an event after them.");
  static constexpr bool ok = false;
};

template <class List>
struct AllParams;
template <class... A>
struct AllParams<TypeList<A...>> : std::bool_constant<((Param<std::remove_cvref_t<A>> || is_world_ref<A>) && ...)> {};

// Checks `params` (the arguments before the event) and the event; reports
// the first problem with a readable static_assert.
template <class Params, class Event>
struct CheckHandlerParams;
template <class... Ps, class Event>
struct CheckHandlerParams<TypeList<Ps...>, Event> {
  template <std::size_t... I>
  static constexpr bool each(std::index_sequence<I...>) {
    return ([]<class P, std::size_t N>() {
      if constexpr (names_world<P>) {
        return world_position_ok<P, N>();
      } else if constexpr (Param<std::remove_cvref_t<P>>) {
        if constexpr (std::is_lvalue_reference_v<P> && !std::is_const_v<std::remove_reference_t<P>>) {
          return ParameterTakenByNonConstReference<std::remove_cvref_t<P>>::ok;
        } else {
          return true;
        }
      } else if constexpr (Param<std::remove_cvref_t<Event>>) {
        return EventMustBeLastParameter<std::remove_cvref_t<P>>::ok;
      } else {
        return NotAKeelParameter<std::remove_cvref_t<P>, N + 1>::ok;
      }
    }.template operator()<Ps, I>() && ... && true);
  }
  static constexpr bool event_ok() {
    if constexpr (names_world<Event>) {
      return WorldIsNotAnEvent<Event>::ok;
    } else {
      return true;
    }
  }
  static constexpr bool value = each(std::index_sequence_for<Ps...>{}) && event_ok() &&
                                no_conflicting_access<param_type_of<Ps>...> && world_beside_access_ok<Ps...>();
};

// --- resolved parameter states ------------------------------------------------

// Rewrites a ConfigError thrown while resolving so it names its owner.
[[noreturn]] void rethrow_for_owner(const ConfigError& error, std::string_view owner);

// The resolved states of one callable's parameters, and the code to fetch
// them and call. Copying a ParamSet copies resolved state (cheap: pointers
// and Local values); it never touches the Registry again.
template <class... Ps>
class ParamSet {
 public:
  ParamSet() = default;

  static ParamSet resolve(const Registry& registry, std::string_view owner) {
    try {
      return ParamSet(std::tuple<typename Ps::State...>{Ps::init(registry)...});
    } catch (const ConfigError& error) {
      rethrow_for_owner(error, owner);
    }
  }

  // Whether `fn` can be called with these parameters followed by `Back...`.
  template <class F, class... Back>
  static constexpr bool invocable =
      std::is_invocable_v<F&, decltype(Ps::fetch(std::declval<World&>(), std::declval<typename Ps::State&>()))...,
                          Back...>;

  template <class F, class... Back>
  decltype(auto) call(F& fn, World& world, Back&&... back) {
    return call_impl(std::index_sequence_for<Ps...>{}, fn, world, std::forward<Back>(back)...);
  }

  template <class F, class Front, class... Back>
  decltype(auto) call_with_front(F& fn, Front& front, World& world, Back&&... back) {
    return call_front_impl(std::index_sequence_for<Ps...>{}, fn, front, world, std::forward<Back>(back)...);
  }

 private:
  explicit ParamSet(std::tuple<typename Ps::State...> states) : states_(std::move(states)) {}

  template <std::size_t... I, class F, class... Back>
  decltype(auto) call_impl(std::index_sequence<I...>, F& fn, World& world, Back&&... back) {
    return fn(Ps::fetch(world, std::get<I>(states_))..., std::forward<Back>(back)...);
  }
  template <std::size_t... I, class F, class Front, class... Back>
  decltype(auto) call_front_impl(std::index_sequence<I...>, F& fn, Front& front, World& world, Back&&... back) {
    return fn(front, Ps::fetch(world, std::get<I>(states_))..., std::forward<Back>(back)...);
  }

  [[no_unique_address]] std::tuple<typename Ps::State...> states_;
};

template <class List>
struct ParamSetFor;
template <class... A>
struct ParamSetFor<TypeList<A...>> {
  using type = ParamSet<param_type_of<A>...>;
};

template <class F>
decltype(auto) run_with_params(World& world, F& fn, std::string_view owner) {
  using Sig = Signature<std::remove_cvref_t<F>>;
  static_assert(Sig::known,
                "keel: cannot read this callable's parameter list (a generic lambda or an overloaded "
                "function object?); spell out its parameter types.");
  using Args = typename Sig::Args;
  static_assert(AllParams<Args>::value,
                "keel: a startup function takes keel parameters only (keel::World&, Res<T>, ResMut<T>, "
                "Local<T>, ...).");
  static_assert(CheckHandlerParams<Args, void>::value);
  auto params = ParamSetFor<Args>::type::resolve(world.registry(), owner);
  return params.call(fn, world);
}

}  // namespace internal
}  // namespace keel
