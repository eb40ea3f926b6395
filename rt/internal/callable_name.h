// Names for handlers: the function's name when it can be known, otherwise
// the place in the source where the handler was built.
#pragma once

#include <source_location>
#include <string_view>
#include <type_traits>

#include "rt/internal/type_name.h"

namespace keel::internal {

// A name that lives for the rest of the program (interned once; cold path).
std::string_view intern_name(std::string_view name);

// "on_quote" (or "{anonymous}::on_quote") for a function named in the
// binary's symbol table, or "" when it is not there (a stripped binary).
std::string_view function_symbol_name(const void* function);

// "lambda at quickstart.cc:31".
std::string_view site_name(std::string_view what, const std::source_location& site);

template <class F>
std::string_view callable_name(const F& fn, const std::source_location& site) {
  using D = std::remove_cvref_t<F>;
  if constexpr (requires { D::name; }) {
    return D::name;  // keel::fn<&f>
  } else if constexpr (std::is_function_v<D> || (std::is_pointer_v<D> && std::is_function_v<std::remove_pointer_t<D>>)) {
    // SAFETY: converting a function pointer to an object pointer is
    // conditionally supported and is on every platform Keel targets; the
    // value is only looked up in the symbol tables, never called through.
    const std::string_view symbol = function_symbol_name(reinterpret_cast<const void*>(+fn));
    return symbol.empty() ? site_name("function", site) : symbol;
  } else if constexpr (type_name<D>().find("<lambda") != std::string_view::npos) {
    return site_name("lambda", site);
  } else {
    return type_name<D>();
  }
}

}  // namespace keel::internal
