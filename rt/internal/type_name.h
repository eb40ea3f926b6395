// Compile-time names of types and functions, read from __PRETTY_FUNCTION__,
// so that error messages can name the resource or handler without RTTI.
#pragma once

#include <string_view>

namespace keel::internal {

// Extracts "X" from "... [with T = X; ...]" or "... [with T = X]".
constexpr std::string_view parse_pretty_argument(std::string_view pretty, std::string_view marker) {
  const auto start = pretty.find(marker);
  if (start == std::string_view::npos) return pretty;
  pretty.remove_prefix(start + marker.size());
  // The argument ends at the first ';' or ']' outside angle brackets and parentheses.
  int depth = 0;
  for (std::size_t i = 0; i < pretty.size(); ++i) {
    const char c = pretty[i];
    if (c == '<' || c == '(' || c == '[') ++depth;
    if (c == '>' || c == ')') --depth;
    if (c == ']') {
      if (depth == 0) return pretty.substr(0, i);
      --depth;
    }
    if (c == ';' && depth == 0) return pretty.substr(0, i);
  }
  return pretty;
}

// The name of T as the compiler spells it ("OrderBook", "ns::Quote").
// The view points into a string literal: valid for the whole program.
template <class T>
constexpr std::string_view type_name() {
  return parse_pretty_argument(__PRETTY_FUNCTION__, "T = ");
}

// The name of a function given as a template argument ("on_quote").
template <auto F>
constexpr std::string_view value_name() {
  std::string_view name = parse_pretty_argument(__PRETTY_FUNCTION__, "F = ");
  if (name.starts_with("& ")) name.remove_prefix(2);
  return name;
}

}  // namespace keel::internal
