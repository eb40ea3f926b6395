// Reads a callable's parameter list at compile time, so that handler(),
// callback() and systems can split it into keel parameters and the event.
#pragma once

#include <cstddef>
#include <tuple>
#include <type_traits>

namespace keel::internal {

template <class... T>
struct TypeList {
  static constexpr std::size_t size = sizeof...(T);
};

template <class R, class... A>
struct SignatureOf {
  using Return = R;
  using Args = TypeList<A...>;
};

template <class F, class = void>
struct Signature {
  // Neither a function nor a class with one non-template operator().
  static constexpr bool known = false;
};

template <class R, class... A>
struct Signature<R (*)(A...)> : SignatureOf<R, A...> {
  static constexpr bool known = true;
};
template <class R, class... A>
struct Signature<R (*)(A...) noexcept> : Signature<R (*)(A...)> {};
template <class R, class... A>
struct Signature<R(A...)> : Signature<R (*)(A...)> {};
template <class R, class... A>
struct Signature<R(A...) noexcept> : Signature<R (*)(A...)> {};
template <class R, class... A>
struct Signature<R (&)(A...)> : Signature<R (*)(A...)> {};
template <class R, class... A>
struct Signature<R (&)(A...) noexcept> : Signature<R (*)(A...)> {};

#define KEEL_INTERNAL_MEMBER_SIGNATURE(QUALIFIERS)                   \
  template <class R, class C, class... A>                            \
  struct Signature<R (C::*)(A...) QUALIFIERS> : Signature<R (*)(A...)> {};
KEEL_INTERNAL_MEMBER_SIGNATURE()
KEEL_INTERNAL_MEMBER_SIGNATURE(const)
KEEL_INTERNAL_MEMBER_SIGNATURE(noexcept)
KEEL_INTERNAL_MEMBER_SIGNATURE(const noexcept)
KEEL_INTERNAL_MEMBER_SIGNATURE(&)
KEEL_INTERNAL_MEMBER_SIGNATURE(const&)
KEEL_INTERNAL_MEMBER_SIGNATURE(& noexcept)
KEEL_INTERNAL_MEMBER_SIGNATURE(const& noexcept)
#undef KEEL_INTERNAL_MEMBER_SIGNATURE

// Lambdas and function objects with exactly one, non-template operator().
template <class F>
struct Signature<F, std::void_t<decltype(&F::operator())>> : Signature<decltype(&F::operator())> {};

// Callables that name their signature (keel::fn<&f>) expose `signature_type`.
template <class F>
  requires requires { typename F::signature_type; }
struct Signature<F, void> : Signature<typename F::signature_type> {};

template <class List>
struct Last;
template <class T>
struct Last<TypeList<T>> {
  using type = T;
};
template <class T, class... Rest>
  requires(sizeof...(Rest) > 0)
struct Last<TypeList<T, Rest...>> : Last<TypeList<Rest...>> {};

// All but the last element.
template <class Done, class Todo>
struct DropLastImpl;
template <class... Done, class T>
struct DropLastImpl<TypeList<Done...>, TypeList<T>> {
  using type = TypeList<Done...>;
};
template <class... Done, class T, class... Rest>
  requires(sizeof...(Rest) > 0)
struct DropLastImpl<TypeList<Done...>, TypeList<T, Rest...>> : DropLastImpl<TypeList<Done..., T>, TypeList<Rest...>> {};
template <class List>
using DropLast = typename DropLastImpl<TypeList<>, List>::type;

template <class List>
struct First;
template <class T, class... Rest>
struct First<TypeList<T, Rest...>> {
  using type = T;
  using rest = TypeList<Rest...>;
};

}  // namespace keel::internal
