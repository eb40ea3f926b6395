// Systems: functions of keel parameters only, with no event, that report
// whether their outputs changed.
//
// A system recomputes derived state from resources (fair value from books,
// exposure from positions). It returns bool, true when what it writes
// changed, or void, meaning "always changed". keel::system(registry, fn)
// resolves the parameters once and gives a concrete, inlinable System; the
// usual home of systems is a keel::SchedulerInstaller (rt/scheduler.h),
// which orders them and skips those whose inputs did not change.
//
//   bool update_mid(keel::Res<Book> book, keel::ResMut<Mid> mid) {
//     const double m = (book->bid + book->ask) / 2;
//     if (m == mid->value) return false;
//     mid->value = m;
//     return true;
//   }
//   auto s = keel::system(world.registry(), update_mid);
//   bool changed = s.run(world);                 // one load per parameter, then the call
//
// Not for: code that reacts to an event (a handler: rt/handler.h), or code
// that runs once before the loop (World::run_startup).
#pragma once

#include <source_location>
#include <string_view>
#include <type_traits>
#include <utility>

#include "rt/error.h"
#include "rt/handler.h"
#include "rt/internal/callable_name.h"
#include "rt/internal/signature.h"
#include "rt/param.h"
#include "rt/registry.h"
#include "rt/world.h"

namespace keel {
namespace internal {

// Each of these is instantiated only when its problem is present; the
// compiler's "in instantiation of ...<T>" line names the offending type.
template <class T, std::size_t Position>
struct SystemParameterIsNotAKeelParameter {
  static_assert(dependent_false<T>,
                "keel: a system takes keel parameters only (Res<T>, ResMut<T>, Opt<...>, Local<T>, Seq, "
                "RegistryRef, or a type satisfying keel::Param) and no event; the offending type and its "
                "position are in 'SystemParameterIsNotAKeelParameter<T, Position>'. A function that takes an "
                "event is a handler: build it with keel::handler().");
  static constexpr bool ok = false;
};

template <class R>
struct SystemMustReturnBoolOrVoid {
  static_assert(dependent_false<R>,
                "keel: a system returns bool (true when its outputs changed, so that the systems after it "
                "run) or void (always changed); the type this one returns is in "
                "'SystemMustReturnBoolOrVoid<R>'.");
  static constexpr bool ok = false;
};

template <class T>
struct SystemTakesConflictingAccessTo {
  static_assert(dependent_false<T>,
                "keel: one system takes the same resource twice with a write (Res<T> with ResMut<T>, or "
                "ResMut<T> twice); T is the type in 'SystemTakesConflictingAccessTo<T>'. Take a single "
                "ResMut<T> and read through it.");
  static constexpr bool ok = false;
};

template <class Params>
struct CheckSystemParams;
template <class... Ps>
struct CheckSystemParams<TypeList<Ps...>> {
  template <std::size_t... I>
  static constexpr bool each(std::index_sequence<I...>) {
    return ([]<class P, std::size_t N>() {
      if constexpr (names_world<P>) {
        return world_position_ok<P, N>();
      } else if constexpr (Param<std::remove_cvref_t<P>>) {
        return true;
      } else {
        return SystemParameterIsNotAKeelParameter<std::remove_cvref_t<P>, N + 1>::ok;
      }
    }.template operator()<Ps, I>() && ... && true);
  }
  static constexpr bool conflicts_ok() {
    if constexpr (!((Param<std::remove_cvref_t<Ps>> || is_world_ref<Ps>) && ... && true)) {
      return true;  // reported above; access lists of non-parameters mean nothing
    } else if constexpr (!world_beside_access_ok<Ps...>()) {
      return false;
    } else {
      using Conflict = first_conflicting_resource<param_type_of<Ps>...>;
      if constexpr (std::is_void_v<Conflict>) {
        return true;
      } else {
        return SystemTakesConflictingAccessTo<Conflict>::ok;
      }
    }
  }
  static constexpr bool value = each(std::index_sequence_for<Ps...>{}) && conflicts_ok();
};

template <class R>
constexpr bool system_return_ok() {
  if constexpr (std::is_same_v<R, bool> || std::is_void_v<R>) {
    return true;
  } else {
    return SystemMustReturnBoolOrVoid<R>::ok;
  }
}

// What a system function looks like: its parameters, its return type, and
// whether both are acceptable (each problem reported by one static_assert).
template <class F>
struct SystemShape {
  using Sig = Signature<std::remove_cvref_t<F>>;
  static_assert(Sig::known,
                "keel: cannot read this callable's parameter list (a generic lambda with auto parameters, or "
                "an overloaded function object?); spell out its parameter types.");
  // An unreadable callable stands in as `void()`, so that the static_assert
  // above is the only error.
  using Known = std::conditional_t<Sig::known, Sig, SignatureOf<void>>;
  using Args = typename Known::Args;
  using Return = typename Known::Return;
  static constexpr bool ok = Sig::known && CheckSystemParams<Args>::value && system_return_ok<Return>();
  static constexpr bool returns_void = std::is_void_v<Return>;
  using ParamSet = typename std::conditional_t<ok, ParamSetFor<Args>, std::type_identity<internal::ParamSet<>>>::type;
};

// What system() returns for a function its static_asserts have rejected: a
// complete system that does nothing, so that code using the result
// compiles on and the static_assert is the only error. Never run: the
// program does not compile.
struct RejectedSystem {
  bool run(World&) { return false; }
  std::string_view name() const noexcept { return "rejected system"; }
};

}  // namespace internal

// A system with its parameters resolved: run(world) fetches them (a load
// each), calls the function and reports whether its outputs changed.
// Built by keel::system() or by a SchedulerInstaller. Copyable when F is;
// a copy carries its own Local<T> values.
template <class F>
class System {
  using Shape = internal::SystemShape<F>;

 public:
  // Resolves F's parameters against `registry`; a missing resource throws
  // ConfigError naming the resource and `name`. `name` is not copied: pass
  // a literal or an interned name (keel::system() passes one).
  System(const Registry& registry, F fn, std::string_view name)
      : built_for_(registry), params_(Shape::ParamSet::resolve(registry, name)), fn_(std::move(fn)), name_(name) {}

  // Hot path. True when the function returned true or returns void. Throws
  // ConfigError when `world` is not the World whose registry resolved the
  // system; whatever the function throws propagates.
  bool run(World& world) {
    internal::check_world(built_for_, world, name_);
    if constexpr (Shape::returns_void) {
      params_.call(fn_, world);
      return true;
    } else {
      return params_.call(fn_, world);
    }
  }

  // The function's name, or "lambda at file.cc:42".
  std::string_view name() const noexcept { return name_; }

 private:
  internal::WorldStamp built_for_;
  typename Shape::ParamSet params_;
  [[no_unique_address]] F fn_;
  std::string_view name_;
};

// Builds a system from a function, a function pointer, keel::fn<&f> or a
// lambda. Parameters are resolved now (cold path); a missing resource throws
// ConfigError naming the resource and the system.
template <class F>
auto system(const Registry& registry, F&& fn, std::source_location site = std::source_location::current()) {
  using Shape = internal::SystemShape<F>;
  if constexpr (!Shape::ok) {
    return internal::RejectedSystem{};  // a static_assert has explained the problem
  } else {
    const std::string_view name = internal::callable_name(fn, site);
    return System<std::decay_t<F>>(registry, std::forward<F>(fn), name);
  }
}

}  // namespace keel
