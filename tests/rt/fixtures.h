// Helpers shared by the runtime tests (tests/rt): checking an error's
// message, building a World from a few resources, and a parameter that
// counts how often it is resolved. Values that count their own copies and
// moves are in tracking.h.
//
//   keel::World world = keel_test::world_with(Book{}, Limits{.max_qty = 50});
//   const std::string message = keel_test::config_error_message([&] { ... });
//   EXPECT_TRUE(keel_test::Contains(message, "'on_quote'"));
//
// Resource types stay in each test's own namespace: error messages name
// them, and the tests check those names.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <utility>

#include "rt/error.h"
#include "rt/registry.h"
#include "rt/world.h"

namespace keel_test {

// Succeeds if `part` occurs in `text`; the failure message quotes both.
inline ::testing::AssertionResult Contains(std::string_view text, std::string_view part) {
  if (text.find(part) != std::string_view::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << text << "\" does not contain \"" << part << "\"";
}

// Runs `fn`, which must throw keel::ConfigError, and returns its message. Any
// other outcome is a test failure (and an empty message).
template <class F>
std::string config_error_message(F&& fn) {
  try {
    std::forward<F>(fn)();
  } catch (const keel::ConfigError& error) {
    return error.what();
  } catch (...) {
    ADD_FAILURE() << "threw something other than keel::ConfigError";
    return {};
  }
  ADD_FAILURE() << "did not throw keel::ConfigError";
  return {};
}

// A World holding `resources`, inserted in order.
template <class... Resources>
keel::World world_with(Resources&&... resources) {
  keel::WorldBuilder wb;
  (wb.insert(std::forward<Resources>(resources)), ...);
  return std::move(wb).build();
}

// A parameter that counts, in `inits`, how often a handler, callback or
// system resolves it. Reset `inits` at the start of the test that reads it.
struct InitCounter {
  static inline int inits = 0;
  struct State {};
  static State init(const keel::Registry&) {
    ++inits;
    return {};
  }
  static InitCounter fetch(keel::World&, State&) noexcept { return {}; }
};

}  // namespace keel_test
