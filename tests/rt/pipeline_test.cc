// Tests for rt/pipeline.h: keel::pipeline<In>(registry), every combinator on
// its success and failure path, steps with keel parameters, the built
// pipeline as a handler, and how many times an event is copied or moved.
//
// g++ 12 at -O2 reports a bogus -Wmaybe-uninitialized when a
// std::expected<int, std::string> holding an error is moved into a
// std::optional (GCC PR 80635 and its relatives; most of the warnings point
// into libstdc++'s <expected>): the value is read only when has_value(). The
// pragma comes first so that it also covers the standard headers' lines.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "rt/pipeline.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "rt/error.h"
#include "rt/handler.h"
#include "rt/param.h"
#include "rt/world.h"
#include "tests/rt/fixtures.h"
#include "tests/rt/tracking.h"

// Test types live in a named namespace, so that the type names in the error
// messages the tests check are spelled without '{anonymous}::'.
namespace pipeline_test {

// The order-entry example's types: raw message, quote, order, reject.
struct RawMsg {
  int px = 0;   // <= 0: cannot be decoded
  int qty = 0;  // 0: not an order; above Limits::max_qty: rejected by risk
  bool tradable = true;
};
struct Quote {
  int px = 0;
  int qty = 0;
  bool tradable = true;
};
struct Order {
  int px = 0;
  int qty = 0;
  friend bool operator==(const Order&, const Order&) = default;
};
enum class Reject { kNoQuantity, kOverLimit };

// Resources.
struct Limits {
  int max_qty = 100;
};
struct Outcomes {
  int undecodable = 0;
  int untradable = 0;
  int no_quantity = 0;
  int over_limit = 0;
  std::vector<Order> sent;
};
struct Total {
  long value = 0;
};
struct Missing {};

// The example chain's steps, each taking keel parameters before its input.
std::optional<Quote> decode(keel::ResMut<Outcomes> out, const RawMsg& m) {
  if (m.px <= 0) {
    ++out->undecodable;
    return std::nullopt;
  }
  return Quote{.px = m.px, .qty = m.qty, .tradable = m.tradable};
}
bool is_tradable(keel::ResMut<Outcomes> out, const Quote& q) {
  if (!q.tradable) ++out->untradable;
  return q.tradable;
}
std::expected<Order, Reject> to_order(Quote q) {
  if (q.qty == 0) return std::unexpected(Reject::kNoQuantity);
  return Order{.px = q.px, .qty = q.qty};
}
std::expected<Order, Reject> check_risk(keel::Res<Limits> lim, Order o) {
  if (o.qty > lim->max_qty) return std::unexpected(Reject::kOverLimit);
  return o;
}
void log_reject(keel::ResMut<Outcomes> out, Reject r) {
  if (r == Reject::kNoQuantity) ++out->no_quantity;
  if (r == Reject::kOverLimit) ++out->over_limit;
}
void send(keel::ResMut<Outcomes> out, Order o) { out->sent.push_back(o); }

}  // namespace pipeline_test

using keel_test::config_error_message;
using keel_test::Contains;
using keel_test::Counts;
using keel_test::Tracked;
using pipeline_test::Limits;
using pipeline_test::Missing;
using pipeline_test::Order;
using pipeline_test::Outcomes;
using pipeline_test::Quote;
using pipeline_test::RawMsg;
using pipeline_test::Reject;
using pipeline_test::Total;

// Global namespace: named "step_needing_missing" from the symbol table.
int step_needing_missing(keel::Res<Missing>, int x) { return x; }

namespace {

keel::World make_world(int max_qty = 100) {
  return keel_test::world_with(Limits{.max_qty = max_qty}, Outcomes{}, Total{});
}

template <class T>
using Opt = std::optional<T>;
template <class T>
using Exp = std::expected<T, std::string>;
using Err = std::unexpected<std::string>;

// ---------------------------------------------------------------------------
// then

TEST(PipelineThen, PassesEachStepsResultToTheNext) {
  keel::World world = make_world();
  std::vector<std::string> seen;
  auto p = keel::pipeline<int>(world.registry())
               .then([](int x) { return x + 1; })
               .then([](int x) { return std::to_string(x * 10); })
               .then([&](const std::string& s) { seen.push_back(s); })
               .build();
  p.run(world, 1);
  p.run(world, 4);
  EXPECT_EQ(seen, (std::vector<std::string>{"20", "50"}));
}

TEST(PipelineThen, PassesAnOptionalAsItIsWithoutLookingInside) {
  keel::World world = make_world();
  std::vector<bool> had_value;
  auto p = keel::pipeline<int>(world.registry())
               .then([](int x) -> Opt<int> { return x > 0 ? Opt<int>(x) : std::nullopt; })
               .then([&](const Opt<int>& o) { had_value.push_back(o.has_value()); })
               .build();
  p.run(world, 1);
  p.run(world, -1);
  EXPECT_EQ(had_value, (std::vector<bool>{true, false}));
}

TEST(PipelineThen, AcceptsAGenericLambdaWithoutKeelParameters) {
  keel::World world = make_world();
  std::vector<std::string> seen;
  auto p = keel::pipeline<int>(world.registry())
               .then([](auto x) { return x * 2; })
               .then([](const auto& x) { return std::to_string(x); })
               .then([&](auto&& s) { seen.push_back(s); })
               .build();
  p.run(world, 21);
  EXPECT_EQ(seen, (std::vector<std::string>{"42"}));
}

// A step is checked, when it is added, against what its combinator passes;
// the check must accept every call the language accepts: an input of any
// type the passed value converts to, a keel::World& first, a predicate
// returning anything that tests as a bool.
TEST(PipelineSteps, AnInputMayBeAnyTypeThePassedValueConvertsTo) {
  keel::World world = make_world();
  std::vector<std::string> seen;
  auto p = keel::pipeline<int>(world.registry())
               .then([](long x) { return x + 1; })                              // int -> long
               .then([](double x) { return x > 1 ? "big" : "small"; })           // long -> double
               .then([](std::string_view s) { return std::string(s); })          // const char* -> string_view
               .then([](const std::string& s) -> Opt<std::string> { return s; })
               .map([&](std::string&& s) { seen.push_back(std::move(s)); })      // the value, as an rvalue
               .build();
  p.run(world, 0);
  p.run(world, 5);
  EXPECT_EQ(seen, (std::vector<std::string>{"small", "big"}));
}

TEST(PipelineSteps, AStepMayTakeTheWorldBeforeItsInput) {
  keel::World world = make_world();
  std::vector<std::uint64_t> seen;
  auto p = keel::pipeline<int>(world.registry())
               .then([](keel::World& w, int x) { return w.sequence() + static_cast<std::uint64_t>(x); })
               .then([&](std::uint64_t v) { seen.push_back(v); })
               .build();
  world.next_sequence();
  p.run(world, 10);
  EXPECT_EQ(seen, (std::vector<std::uint64_t>{world.sequence() + 10}));
}

TEST(PipelineSteps, APredicateMayReturnAnythingThatTestsAsABool) {
  keel::World world = make_world();
  std::vector<int> kept;
  auto p = keel::pipeline<int>(world.registry())
               .guard([](const int& x) { return x % 2; })                          // an int
               .filter([](const int& x) { return x > 1 ? Opt<int>(x) : std::nullopt; })  // explicit bool
               .map([&](int x) { kept.push_back(x); })
               .build();
  for (int x : {1, 2, 3, 4, 5}) p.run(world, x);
  EXPECT_EQ(kept, (std::vector<int>{3, 5}));
}

// ---------------------------------------------------------------------------
// map

TEST(PipelineMap, OnOptionalTransformsTheValueAndSkipsEmpty) {
  keel::World world = make_world();
  int calls = 0;
  std::vector<Opt<std::string>> out;
  auto b = keel::pipeline<Opt<int>>(world.registry()).map([&](int x) {
    ++calls;
    return std::to_string(x);
  });
  static_assert(std::is_same_v<decltype(b)::output_type, Opt<std::string>>);
  auto p = std::move(b).then([&](Opt<std::string> s) { out.push_back(std::move(s)); }).build();
  p.run(world, 7);
  p.run(world, std::nullopt);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(out, (std::vector<Opt<std::string>>{"7", std::nullopt}));
}

TEST(PipelineMap, OnExpectedTransformsTheValueAndPassesTheErrorUntouched) {
  keel::World world = make_world();
  int calls = 0;
  std::vector<std::expected<double, std::string>> out;
  auto b = keel::pipeline<Exp<int>>(world.registry()).map([&](int x) {
    ++calls;
    return x * 0.5;
  });
  static_assert(std::is_same_v<decltype(b)::output_type, std::expected<double, std::string>>);
  auto p = std::move(b).then([&](std::expected<double, std::string> e) { out.push_back(std::move(e)); }).build();
  p.run(world, 3);
  p.run(world, Err("bad"));
  EXPECT_EQ(calls, 1);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], 1.5);
  ASSERT_FALSE(out[1].has_value());
  EXPECT_EQ(out[1].error(), "bad");
}

TEST(PipelineMap, ReturningVoidOnOptionalRunsForValuesOnlyAndEndsThePipeline) {
  keel::World world = make_world();
  std::vector<int> seen;
  auto b = keel::pipeline<Opt<int>>(world.registry()).map([&](int x) { seen.push_back(x); });
  static_assert(std::is_void_v<decltype(b)::output_type>);
  auto p = std::move(b).build();
  p.run(world, 1);
  p.run(world, std::nullopt);
  p.run(world, 3);
  EXPECT_EQ(seen, (std::vector<int>{1, 3}));
}

TEST(PipelineMap, ReturningVoidOnExpectedGivesExpectedVoidKeepingTheError) {
  keel::World world = make_world();
  std::vector<int> seen;
  std::vector<std::string> errors;
  auto b = keel::pipeline<Exp<int>>(world.registry()).map([&](int x) { seen.push_back(x); });
  static_assert(std::is_same_v<decltype(b)::output_type, std::expected<void, std::string>>);
  auto p = std::move(b).inspect_error([&](const std::string& e) { errors.push_back(e); }).build();
  p.run(world, 5);
  p.run(world, Err("nope"));
  EXPECT_EQ(seen, (std::vector<int>{5}));
  EXPECT_EQ(errors, (std::vector<std::string>{"nope"}));
}

// ---------------------------------------------------------------------------
// filter

TEST(PipelineFilter, OnOptionalKeepsValuesThatPassAndEmptiesTheRest) {
  keel::World world = make_world();
  int pred_calls = 0;
  std::vector<Opt<int>> out;
  auto b = keel::pipeline<Opt<int>>(world.registry()).filter([&](const int& x) {
    ++pred_calls;
    return x % 2 == 0;
  });
  static_assert(std::is_same_v<decltype(b)::output_type, Opt<int>>);
  auto p = std::move(b).then([&](Opt<int> o) { out.push_back(o); }).build();
  p.run(world, 2);
  p.run(world, 3);
  p.run(world, std::nullopt);
  EXPECT_EQ(pred_calls, 2);  // not called for an empty optional
  EXPECT_EQ(out, (std::vector<Opt<int>>{2, std::nullopt, std::nullopt}));
}

TEST(PipelineFilter, OnExpectedEmptiesFailingValuesAndLetsErrorsThrough) {
  keel::World world = make_world();
  int pred_calls = 0;
  std::vector<Opt<Exp<int>>> out;
  auto b = keel::pipeline<Exp<int>>(world.registry()).filter([&](const int& x) {
    ++pred_calls;
    return x > 0;
  });
  static_assert(std::is_same_v<decltype(b)::output_type, Opt<Exp<int>>>);
  auto p = std::move(b).then([&](Opt<Exp<int>> o) { out.push_back(std::move(o)); }).build();
  p.run(world, 4);
  p.run(world, -4);
  p.run(world, Err("e"));
  EXPECT_EQ(pred_calls, 2);  // not called for an error
  ASSERT_EQ(out.size(), 3u);
  ASSERT_TRUE(out[0] && out[0]->has_value());
  EXPECT_EQ(**out[0], 4);
  EXPECT_FALSE(out[1].has_value());
  ASSERT_TRUE(out[2].has_value());
  ASSERT_FALSE(out[2]->has_value());
  EXPECT_EQ(out[2]->error(), "e");
}

TEST(PipelineFilter, OnAPlainValueGivesAnOptional) {
  keel::World world = make_world();
  std::vector<Opt<int>> out;
  auto b = keel::pipeline<int>(world.registry()).filter([](int x) { return x < 10; });
  static_assert(std::is_same_v<decltype(b)::output_type, Opt<int>>);
  auto p = std::move(b).then([&](Opt<int> o) { out.push_back(o); }).build();
  p.run(world, 1);
  p.run(world, 11);
  EXPECT_EQ(out, (std::vector<Opt<int>>{1, std::nullopt}));
}

// ---------------------------------------------------------------------------
// and_then

TEST(PipelineAndThen, OnOptionalChainsAFallibleStepAndSkipsEmpty) {
  keel::World world = make_world();
  int calls = 0;
  std::vector<Opt<int>> out;
  auto p = keel::pipeline<Opt<int>>(world.registry())
               .and_then([&](int x) -> Opt<int> {
                 ++calls;
                 if (x == 0) return std::nullopt;
                 return 100 / x;
               })
               .then([&](Opt<int> o) { out.push_back(o); })
               .build();
  p.run(world, 4);
  p.run(world, 0);             // the step says no
  p.run(world, std::nullopt);  // the step is not called
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(out, (std::vector<Opt<int>>{25, std::nullopt, std::nullopt}));
}

TEST(PipelineAndThen, OnExpectedChainsAFallibleStepAndPassesEarlierErrors) {
  keel::World world = make_world();
  int calls = 0;
  std::vector<Exp<std::string>> out;
  auto b = keel::pipeline<Exp<int>>(world.registry()).and_then([&](int x) -> Exp<std::string> {
    ++calls;
    if (x < 0) return Err("negative");
    return std::to_string(x);
  });
  static_assert(std::is_same_v<decltype(b)::output_type, Exp<std::string>>);
  auto p = std::move(b).then([&](Exp<std::string> e) { out.push_back(std::move(e)); }).build();
  p.run(world, 12);
  p.run(world, -1);
  p.run(world, Err("earlier"));
  EXPECT_EQ(calls, 2);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0], "12");
  EXPECT_EQ(out[1].error(), "negative");
  EXPECT_EQ(out[2].error(), "earlier");
}

// ---------------------------------------------------------------------------
// inspect, on_none, ok_or, unwrap_or

TEST(PipelineInspect, SeesValuesOnlyAndPassesEverythingOn) {
  keel::World world = make_world();
  std::vector<int> inspected;
  std::vector<Opt<int>> out_opt;
  auto opt = keel::pipeline<Opt<int>>(world.registry())
                 .inspect([&](const int& x) { inspected.push_back(x); })
                 .then([&](Opt<int> o) { out_opt.push_back(o); })
                 .build();
  opt.run(world, 1);
  opt.run(world, std::nullopt);
  EXPECT_EQ(inspected, (std::vector<int>{1}));
  EXPECT_EQ(out_opt, (std::vector<Opt<int>>{1, std::nullopt}));

  std::vector<Exp<int>> out_exp;
  auto exp = keel::pipeline<Exp<int>>(world.registry())
                 .inspect([&](const int& x) { inspected.push_back(x); })
                 .then([&](Exp<int> e) { out_exp.push_back(e); })
                 .build();
  exp.run(world, 2);
  exp.run(world, Err("x"));
  EXPECT_EQ(inspected, (std::vector<int>{1, 2}));
  ASSERT_EQ(out_exp.size(), 2u);
  EXPECT_EQ(out_exp[0], 2);
  EXPECT_EQ(out_exp[1].error(), "x");
}

TEST(PipelineOnNone, CallsItsStepOnlyForAnEmptyOptionalAndPassesItOn) {
  keel::World world = make_world();
  int nones = 0;
  std::vector<Opt<int>> out;
  auto p = keel::pipeline<Opt<int>>(world.registry())
               .on_none([&] { ++nones; })
               .then([&](Opt<int> o) { out.push_back(o); })
               .build();
  p.run(world, 5);
  p.run(world, std::nullopt);
  p.run(world, std::nullopt);
  EXPECT_EQ(nones, 2);
  EXPECT_EQ(out, (std::vector<Opt<int>>{5, std::nullopt, std::nullopt}));
}

TEST(PipelineOnNone, TakesKeelParameters) {
  keel::World world = make_world();
  auto p = keel::pipeline<Opt<int>>(world.registry())
               .on_none([](keel::ResMut<Outcomes> out) { ++out->undecodable; })
               .build();
  p.run(world, 1);
  p.run(world, std::nullopt);
  EXPECT_EQ(world.resource<Outcomes>().undecodable, 1);
}

TEST(PipelineOkOr, TurnsAnEmptyOptionalIntoTheGivenError) {
  keel::World world = make_world();
  std::vector<std::expected<int, Reject>> out;
  auto b = keel::pipeline<Opt<int>>(world.registry()).ok_or(Reject::kNoQuantity);
  static_assert(std::is_same_v<decltype(b)::output_type, std::expected<int, Reject>>);
  auto p = std::move(b).then([&](std::expected<int, Reject> e) { out.push_back(e); }).build();
  p.run(world, 9);
  p.run(world, std::nullopt);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], 9);
  ASSERT_FALSE(out[1].has_value());
  EXPECT_EQ(out[1].error(), Reject::kNoQuantity);
}

TEST(PipelineUnwrapOr, GivesTheValueOrTheFallback) {
  keel::World world = make_world();
  std::vector<int> out;
  auto opt = keel::pipeline<Opt<int>>(world.registry()).unwrap_or(-1).then([&](int x) { out.push_back(x); }).build();
  opt.run(world, 3);
  opt.run(world, std::nullopt);
  auto exp = keel::pipeline<Exp<int>>(world.registry()).unwrap_or(-2).then([&](int x) { out.push_back(x); }).build();
  exp.run(world, 4);
  exp.run(world, Err("e"));
  EXPECT_EQ(out, (std::vector<int>{3, -1, 4, -2}));
}

// ---------------------------------------------------------------------------
// Error combinators

TEST(PipelineOnError, HandlesEachErrorAndLeavesAnOptionalOfTheValue) {
  keel::World world = make_world();
  std::vector<std::string> errors;
  std::vector<Opt<int>> out;
  auto b = keel::pipeline<Exp<int>>(world.registry()).on_error([&](std::string e) { errors.push_back(e); });
  static_assert(std::is_same_v<decltype(b)::output_type, Opt<int>>);
  auto p = std::move(b).then([&](Opt<int> o) { out.push_back(o); }).build();
  p.run(world, 1);
  p.run(world, Err("boom"));
  EXPECT_EQ(errors, (std::vector<std::string>{"boom"}));
  EXPECT_EQ(out, (std::vector<Opt<int>>{1, std::nullopt}));
}

TEST(PipelineMapError, ConvertsTheErrorAndLeavesValuesAlone) {
  keel::World world = make_world();
  int calls = 0;
  std::vector<std::expected<int, std::size_t>> out;
  auto b = keel::pipeline<Exp<int>>(world.registry()).map_error([&](const std::string& e) {
    ++calls;
    return e.size();
  });
  static_assert(std::is_same_v<decltype(b)::output_type, std::expected<int, std::size_t>>);
  auto p = std::move(b).then([&](std::expected<int, std::size_t> e) { out.push_back(e); }).build();
  p.run(world, 8);
  p.run(world, Err("four"));
  EXPECT_EQ(calls, 1);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], 8);
  EXPECT_EQ(out[1].error(), 4u);
}

TEST(PipelineOrElse, RecoversFromAnErrorOrReplacesIt) {
  keel::World world = make_world();
  int calls = 0;
  std::vector<std::expected<int, Reject>> out;
  auto b = keel::pipeline<Exp<int>>(world.registry()).or_else([&](std::string e) -> std::expected<int, Reject> {
    ++calls;
    if (e == "recoverable") return 0;
    return std::unexpected(Reject::kOverLimit);
  });
  static_assert(std::is_same_v<decltype(b)::output_type, std::expected<int, Reject>>);
  auto p = std::move(b).then([&](std::expected<int, Reject> e) { out.push_back(e); }).build();
  p.run(world, 6);
  p.run(world, Err("recoverable"));
  p.run(world, Err("fatal"));
  EXPECT_EQ(calls, 2);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0], 6);
  EXPECT_EQ(out[1], 0);
  EXPECT_EQ(out[2].error(), Reject::kOverLimit);
}

TEST(PipelineInspectError, SeesErrorsOnlyAndPassesEverythingOn) {
  keel::World world = make_world();
  std::vector<std::string> errors;
  std::vector<Exp<int>> out;
  auto p = keel::pipeline<Exp<int>>(world.registry())
               .inspect_error([&](const std::string& e) { errors.push_back(e); })
               .then([&](Exp<int> e) { out.push_back(e); })
               .build();
  p.run(world, 1);
  p.run(world, Err("seen"));
  EXPECT_EQ(errors, (std::vector<std::string>{"seen"}));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], 1);
  EXPECT_EQ(out[1].error(), "seen");
}

TEST(PipelineOk, DropsTheErrorAndKeepsTheValue) {
  keel::World world = make_world();
  std::vector<Opt<int>> out;
  auto b = keel::pipeline<Exp<int>>(world.registry()).ok();
  static_assert(std::is_same_v<decltype(b)::output_type, Opt<int>>);
  auto p = std::move(b).then([&](Opt<int> o) { out.push_back(o); }).build();
  p.run(world, 2);
  p.run(world, Err("dropped"));
  EXPECT_EQ(out, (std::vector<Opt<int>>{2, std::nullopt}));
}

// ---------------------------------------------------------------------------
// std::optional<std::expected<T, E>>: value and error combinators see
// through the outer optional; ok_or, unwrap_or and on_none act on it.

TEST(PipelineOptionalExpected, MapAndAndThenSeeThroughTheOuterOptional) {
  keel::World world = make_world();
  int calls = 0;
  std::vector<Opt<Exp<int>>> out;
  auto b = keel::pipeline<Opt<Exp<int>>>(world.registry())
               .map([&](int x) {
                 ++calls;
                 return x + 1;
               })
               .and_then([&](int x) -> Exp<int> {
                 ++calls;
                 if (x > 10) return Err("big");
                 return x * 2;
               });
  static_assert(std::is_same_v<decltype(b)::output_type, Opt<Exp<int>>>);
  auto p = std::move(b).then([&](Opt<Exp<int>> o) { out.push_back(std::move(o)); }).build();
  p.run(world, Exp<int>(1));     // value
  p.run(world, Exp<int>(20));    // value, then an error from and_then
  p.run(world, Exp<int>(Err("early")));  // error: neither step runs
  p.run(world, std::nullopt);            // none: neither step runs
  EXPECT_EQ(calls, 4);
  ASSERT_EQ(out.size(), 4u);
  ASSERT_TRUE(out[0] && *out[0]);
  EXPECT_EQ(**out[0], 4);
  ASSERT_TRUE(out[1] && !*out[1]);
  EXPECT_EQ(out[1]->error(), "big");
  ASSERT_TRUE(out[2] && !*out[2]);
  EXPECT_EQ(out[2]->error(), "early");
  EXPECT_FALSE(out[3].has_value());
}

TEST(PipelineOptionalExpected, ErrorCombinatorsSeeThroughTheOuterOptional) {
  keel::World world = make_world();
  std::vector<std::string> inspected;
  std::vector<std::size_t> handled;
  std::vector<Opt<int>> out;
  auto b = keel::pipeline<Opt<Exp<int>>>(world.registry())
               .inspect_error([&](const std::string& e) { inspected.push_back(e); })
               .map_error([](const std::string& e) { return e.size(); })
               .on_error([&](std::size_t n) { handled.push_back(n); });
  static_assert(std::is_same_v<decltype(b)::output_type, Opt<int>>);  // flattened, not Opt<Opt<int>>
  auto p = std::move(b).then([&](Opt<int> o) { out.push_back(o); }).build();
  p.run(world, Exp<int>(7));
  p.run(world, Exp<int>(Err("three")));
  p.run(world, std::nullopt);
  EXPECT_EQ(inspected, (std::vector<std::string>{"three"}));
  EXPECT_EQ(handled, (std::vector<std::size_t>{5}));
  EXPECT_EQ(out, (std::vector<Opt<int>>{7, std::nullopt, std::nullopt}));
}

TEST(PipelineOptionalExpected, OrElseAndOkSeeThroughTheOuterOptional) {
  keel::World world = make_world();
  std::vector<Opt<int>> out;
  auto b = keel::pipeline<Opt<Exp<int>>>(world.registry())
               .or_else([](const std::string& e) -> Exp<int> {
                 if (e == "retry") return 0;
                 return Err(e);
               })
               .ok();
  static_assert(std::is_same_v<decltype(b)::output_type, Opt<int>>);
  auto p = std::move(b).then([&](Opt<int> o) { out.push_back(o); }).build();
  p.run(world, Exp<int>(3));
  p.run(world, Exp<int>(Err("retry")));
  p.run(world, Exp<int>(Err("fatal")));
  p.run(world, std::nullopt);
  EXPECT_EQ(out, (std::vector<Opt<int>>{3, 0, std::nullopt, std::nullopt}));
}

TEST(PipelineOptionalExpected, InspectSeesOnlyAValueInside) {
  keel::World world = make_world();
  std::vector<int> inspected;
  auto p = keel::pipeline<Opt<Exp<int>>>(world.registry()).inspect([&](const int& x) { inspected.push_back(x); }).build();
  p.run(world, Exp<int>(1));
  p.run(world, Exp<int>(Err("e")));
  p.run(world, std::nullopt);
  EXPECT_EQ(inspected, (std::vector<int>{1}));
}

TEST(PipelineOptionalExpected, FilterSeesThroughAndEmptiesFailingValues) {
  keel::World world = make_world();
  std::vector<Opt<Exp<int>>> out;
  auto b = keel::pipeline<Opt<Exp<int>>>(world.registry()).filter([](const int& x) { return x > 0; });
  static_assert(std::is_same_v<decltype(b)::output_type, Opt<Exp<int>>>);
  auto p = std::move(b).then([&](Opt<Exp<int>> o) { out.push_back(std::move(o)); }).build();
  p.run(world, Exp<int>(1));
  p.run(world, Exp<int>(-1));
  p.run(world, Exp<int>(Err("e")));
  ASSERT_EQ(out.size(), 3u);
  ASSERT_TRUE(out[0] && *out[0]);
  EXPECT_FALSE(out[1].has_value());
  ASSERT_TRUE(out[2] && !*out[2]);
}

TEST(PipelineOptionalExpected, OnNoneOkOrAndUnwrapOrActOnTheOuterOptional) {
  keel::World world = make_world();
  int nones = 0;
  std::vector<Exp<int>> as_expected;
  auto to_exp = keel::pipeline<Opt<Exp<int>>>(world.registry())
                    .on_none([&] { ++nones; })
                    .ok_or(std::string("none"))
                    .then([&](Exp<int> e) { as_expected.push_back(e); })
                    .build();
  to_exp.run(world, Exp<int>(1));
  to_exp.run(world, Exp<int>(Err("error")));
  to_exp.run(world, std::nullopt);
  EXPECT_EQ(nones, 1);
  ASSERT_EQ(as_expected.size(), 3u);
  EXPECT_EQ(as_expected[0], 1);
  EXPECT_EQ(as_expected[1].error(), "error");
  EXPECT_EQ(as_expected[2].error(), "none");

  std::vector<int> unwrapped;
  auto to_int = keel::pipeline<Opt<Exp<int>>>(world.registry())
                    .unwrap_or(-1)
                    .then([&](int x) { unwrapped.push_back(x); })
                    .build();
  to_int.run(world, Exp<int>(5));
  to_int.run(world, Exp<int>(Err("error")));
  to_int.run(world, std::nullopt);
  EXPECT_EQ(unwrapped, (std::vector<int>{5, -1, -1}));
}

// ---------------------------------------------------------------------------
// tap, guard, dedup, scan

TEST(PipelineTap, SeesWhateverTheChainCarriesAndPassesItOn) {
  keel::World world = make_world();
  std::vector<Opt<int>> tapped;
  std::vector<Opt<int>> out;
  auto p = keel::pipeline<Opt<int>>(world.registry())
               .tap([&](const Opt<int>& o) { tapped.push_back(o); })
               .then([&](Opt<int> o) { out.push_back(o); })
               .build();
  p.run(world, 1);
  p.run(world, std::nullopt);
  EXPECT_EQ(tapped, (std::vector<Opt<int>>{1, std::nullopt}));
  EXPECT_EQ(out, tapped);
}

TEST(PipelineGuard, KeepsAPlainValueOnlyWhenThePredicateHolds) {
  keel::World world = make_world();
  std::vector<Opt<int>> out;
  auto b = keel::pipeline<int>(world.registry()).guard([](keel::Res<Limits> lim, const int& x) {
    return x <= lim->max_qty;
  });
  static_assert(std::is_same_v<decltype(b)::output_type, Opt<int>>);
  auto p = std::move(b).then([&](Opt<int> o) { out.push_back(o); }).build();
  p.run(world, 100);
  p.run(world, 101);
  EXPECT_EQ(out, (std::vector<Opt<int>>{100, std::nullopt}));
}

TEST(PipelineDedup, DropsAValueEqualToThePreviousOnePassedOn) {
  keel::World world = make_world();
  std::vector<int> out;
  auto p = keel::pipeline<int>(world.registry()).dedup().map([&](int x) { out.push_back(x); }).build();
  for (int x : {1, 1, 2, 2, 2, 1, 3, 3}) p.run(world, x);
  EXPECT_EQ(out, (std::vector<int>{1, 2, 1, 3}));
}

TEST(PipelineDedup, OnOptionalSkipsEmptyAndComparesWithTheLastValue) {
  keel::World world = make_world();
  std::vector<int> out;
  auto p = keel::pipeline<Opt<int>>(world.registry()).dedup().map([&](int x) { out.push_back(x); }).build();
  for (Opt<int> x : {Opt<int>(1), Opt<int>(), Opt<int>(1), Opt<int>(2), Opt<int>(), Opt<int>(2)}) p.run(world, x);
  EXPECT_EQ(out, (std::vector<int>{1, 2}));  // an empty in between does not reset the comparison
}

TEST(PipelineScan, KeepsItsAccumulatorAcrossEvents) {
  keel::World world = make_world();
  std::vector<long> out;
  auto p = keel::pipeline<int>(world.registry())
               .scan(100L, [](long& sum, int x) {
                 sum += x;
                 return sum;
               })
               .then([&](long s) { out.push_back(s); })
               .build();
  p.run(world, 1);
  p.run(world, 2);
  p.run(world, 3);
  EXPECT_EQ(out, (std::vector<long>{101, 103, 106}));
}

TEST(PipelineScan, TakesKeelParametersBeforeTheAccumulator) {
  keel::World world = make_world();
  auto p = keel::pipeline<int>(world.registry())
               .scan(0, [](keel::ResMut<Total> total, int& count, int x) {
                 ++count;
                 total->value += x * count;
               })
               .build();
  p.run(world, 10);  // 10 * 1
  p.run(world, 10);  // 10 * 2
  EXPECT_EQ(world.resource<Total>().value, 30);
}

// ---------------------------------------------------------------------------
// splat

TEST(PipelineSplat, SpreadsAPairOverTheNextStepsInputs) {
  keel::World world = make_world();
  auto p = keel::pipeline<int>(world.registry())
               .then([](int x) { return std::pair<int, std::string>(x, "px"); })
               .splat()
               .then([](keel::ResMut<Total> total, int x, const std::string& s) {
                 total->value += x * static_cast<long>(s.size());
               })
               .build();
  p.run(world, 21);
  EXPECT_EQ(world.resource<Total>().value, 42);
}

TEST(PipelineSplat, SpreadsTwoThreeFourAndFiveTuples) {
  keel::World world = make_world();
  std::vector<int> out;
  auto two = keel::pipeline<int>(world.registry())
                 .then([](int x) { return std::tuple(x, x + 1); })
                 .splat()
                 .then([&](int a, int b) { out.push_back(a * 10 + b); })
                 .build();
  auto three = keel::pipeline<int>(world.registry())
                   .then([](int x) { return std::tuple(x, x + 1, x + 2); })
                   .splat()
                   .then([&](int a, int b, int c) { out.push_back(a * 100 + b * 10 + c); })
                   .build();
  auto four = keel::pipeline<int>(world.registry())
                  .then([](int x) { return std::tuple(x, x + 1, x + 2, x + 3); })
                  .splat()
                  .then([&](int a, int b, int c, int d) { out.push_back(((a * 10 + b) * 10 + c) * 10 + d); })
                  .build();
  auto five = keel::pipeline<int>(world.registry())
                  .then([](int x) { return std::tuple(x, x + 1, x + 2, x + 3, std::string("e")); })
                  .splat()
                  .then([](keel::ResMut<Total> total, int a, int b, int c, int d, std::string e) {
                    total->value = (((a * 10L + b) * 10 + c) * 10 + d) * 10 + static_cast<long>(e.size());
                  })
                  .build();
  two.run(world, 1);
  three.run(world, 1);
  four.run(world, 1);
  five.run(world, 1);
  EXPECT_EQ(out, (std::vector<int>{12, 123, 1234}));
  EXPECT_EQ(world.resource<Total>().value, 12341);
}

TEST(PipelineSplat, AppliesToTheValueInsideAnOptional) {
  keel::World world = make_world();
  std::vector<int> out;
  auto p = keel::pipeline<Opt<std::pair<int, int>>>(world.registry())
               .splat()
               .map([](int a, int b) { return a - b; })
               .map([&](int d) { out.push_back(d); })
               .build();
  p.run(world, std::pair(5, 2));
  p.run(world, std::nullopt);
  EXPECT_EQ(out, (std::vector<int>{3}));
}

TEST(PipelineSplat, OnlyAffectsTheStepRightAfterIt) {
  keel::World world = make_world();
  std::vector<int> out;
  auto p = keel::pipeline<int>(world.registry())
               .then([](int x) { return std::tuple(x, x); })
               .splat()
               .then([](int a, int b) { return std::tuple(a + b, 1); })
               .then([&](std::tuple<int, int> t) { out.push_back(std::get<0>(t) + std::get<1>(t)); })
               .build();
  p.run(world, 3);
  EXPECT_EQ(out, (std::vector<int>{7}));
}

// ---------------------------------------------------------------------------
// dispatch

TEST(PipelineDispatch, RunsAHandlerOnAPlainValue) {
  keel::World world = make_world();
  auto h = keel::handler(world.registry(), [](keel::ResMut<Total> t, const int& x) { t->value += x; });
  auto p = keel::pipeline<int>(world.registry()).then([](int x) { return x * 3; }).dispatch(std::move(h)).build();
  p.run(world, 2);
  p.run(world, 5);
  EXPECT_EQ(world.resource<Total>().value, 21);
}

TEST(PipelineDispatch, RunsAHandlerOnTheValueOfAnOptionalOnlyWhenThereIsOne) {
  keel::World world = make_world();
  auto h = keel::handler(world.registry(), [](keel::ResMut<Total> t, int x) { t->value += x; });
  auto p = keel::pipeline<Opt<int>>(world.registry()).dispatch(std::move(h)).build();
  p.run(world, 4);
  p.run(world, std::nullopt);
  p.run(world, 6);
  EXPECT_EQ(world.resource<Total>().value, 10);
}

TEST(PipelineDispatch, PassesAnOptionalWholeToAHandlerOfThatOptional) {
  keel::World world = make_world();
  auto h = keel::handler(world.registry(), [](keel::ResMut<Total> t, const Opt<int>& x) { t->value += x ? *x : 100; });
  auto p = keel::pipeline<Opt<int>>(world.registry()).dispatch(std::move(h)).build();
  p.run(world, 4);
  p.run(world, std::nullopt);
  EXPECT_EQ(world.resource<Total>().value, 104);
}

// ---------------------------------------------------------------------------
// The order-entry example, every path

TEST(PipelineExample, EachMessageTakesItsPathAndIsCountedOnce) {
  keel::World world = make_world(/*max_qty=*/100);
  using namespace pipeline_test;
  auto b = keel::pipeline<RawMsg>(world.registry())
               .then(decode)         // RawMsg -> optional<Quote>
               .filter(is_tradable)  // keeps Some when true
               .map(to_order);       // Quote -> expected<Order, Reject>
  static_assert(std::is_same_v<decltype(b)::output_type, Opt<std::expected<Order, Reject>>>);
  auto c = std::move(b)
               .and_then(check_risk)  // sees the Order inside
               .on_error(log_reject);
  static_assert(std::is_same_v<decltype(c)::output_type, Opt<Order>>);
  auto p = std::move(c).map(send).build();

  p.run(world, RawMsg{.px = 0, .qty = 5});                       // undecodable
  p.run(world, RawMsg{.px = 10, .qty = 5, .tradable = false});   // filtered out
  p.run(world, RawMsg{.px = 11, .qty = 0});                      // to_order rejects
  p.run(world, RawMsg{.px = 12, .qty = 500});                    // check_risk rejects
  p.run(world, RawMsg{.px = 13, .qty = 7});                      // sent
  p.run(world, RawMsg{.px = 14, .qty = 100});                    // sent (at the limit)

  const Outcomes& out = world.resource<Outcomes>();
  EXPECT_EQ(out.undecodable, 1);
  EXPECT_EQ(out.untradable, 1);
  EXPECT_EQ(out.no_quantity, 1);
  EXPECT_EQ(out.over_limit, 1);
  EXPECT_EQ(out.sent, (std::vector<Order>{{13, 7}, {14, 100}}));
}

TEST(PipelineExample, WorksWithKeelFnStepsToo) {
  keel::World world = make_world(/*max_qty=*/10);
  using namespace pipeline_test;
  auto p = keel::pipeline<RawMsg>(world.registry())
               .then(keel::fn<&decode>)
               .filter(keel::fn<&is_tradable>)
               .map(keel::fn<&to_order>)
               .and_then(keel::fn<&check_risk>)
               .on_error(keel::fn<&log_reject>)
               .map(keel::fn<&send>)
               .build();
  p.run(world, RawMsg{.px = 1, .qty = 11});
  p.run(world, RawMsg{.px = 1, .qty = 10});
  EXPECT_EQ(world.resource<Outcomes>().over_limit, 1);
  EXPECT_EQ(world.resource<Outcomes>().sent, (std::vector<Order>{{1, 10}}));
}

// ---------------------------------------------------------------------------
// Steps with parameters

TEST(PipelineParams, StepsReadAndWriteResources) {
  keel::World world = make_world(/*max_qty=*/3);
  auto p = keel::pipeline<int>(world.registry())
               .then([](keel::Res<Limits> lim, int x) { return x * lim->max_qty; })
               .then([](keel::ResMut<Total> t, int x) { t->value += x; })
               .build();
  p.run(world, 2);
  p.run(world, 5);
  EXPECT_EQ(world.resource<Total>().value, 21);
}

TEST(PipelineParams, ALocalInAStepPersistsAcrossRunsAndIsPerStep) {
  keel::World world = make_world();
  std::vector<std::pair<int, int>> out;
  auto p = keel::pipeline<int>(world.registry())
               .then([](keel::Local<int> calls, int x) { return std::pair(++*calls, x); })
               .then([&](keel::Local<int> calls, std::pair<int, int> v) {
                 *calls += 10;
                 out.emplace_back(v.first, *calls + v.second);
               })
               .build();
  p.run(world, 0);
  p.run(world, 0);
  p.run(world, 5);
  EXPECT_EQ(out, (std::vector<std::pair<int, int>>{{1, 10}, {2, 20}, {3, 35}}));

  // Another pipeline from the same functions has its own Locals.
  auto q = keel::pipeline<int>(world.registry()).then([](keel::Local<int> calls, int) { return ++*calls; })
               .then([&](int n) { out.emplace_back(n, 0); })
               .build();
  q.run(world, 0);
  EXPECT_EQ(out.back(), (std::pair<int, int>{1, 0}));
}

TEST(PipelineParams, MissingResourceThrowsConfigErrorNamingResourceAndStep) {
  keel::World world = make_world();
  const std::string named = config_error_message([&] {
    keel::pipeline<int>(world.registry()).then([](int x) { return x; }).then(step_needing_missing);
  });
  EXPECT_TRUE(Contains(named, "'pipeline_test::Missing'"));
  EXPECT_TRUE(Contains(named, "'step_needing_missing'"));

  const int line = __LINE__ + 2;
  const std::string lambda = config_error_message([&] {
    keel::pipeline<Opt<int>>(world.registry()).map([](keel::ResMut<Missing>, int x) { return x; });
  });
  EXPECT_TRUE(Contains(lambda, "'pipeline_test::Missing'"));
  EXPECT_TRUE(Contains(lambda, "lambda at pipeline_test.cc:" + std::to_string(line)));
}

TEST(PipelineParams, MissingResourceInAnErrorStepIsAlsoReportedAtAdd) {
  keel::World world = make_world();
  const std::string message = config_error_message([&] {
    keel::pipeline<Exp<int>>(world.registry()).on_error([](keel::Res<Missing>, const std::string&) {});
  });
  EXPECT_TRUE(Contains(message, "'pipeline_test::Missing'"));
}

// ---------------------------------------------------------------------------
// The built pipeline as a handler

TEST(Pipeline, RunOnAnotherWorldThrowsAndTouchesNeither) {
  if (!keel::internal::kCheckWorld) GTEST_SKIP() << "the wrong-World check is compiled out (NDEBUG)";
  keel::World first = make_world();
  keel::World second = make_world();
  auto p = keel::pipeline<int>(first.registry()).then([](keel::ResMut<Total> t, int x) { t->value += x; }).build();
  const std::string message = config_error_message([&] { p.run(second, 5); });
  EXPECT_TRUE(Contains(message, "another World"));
  EXPECT_TRUE(Contains(message, "pipeline at pipeline_test.cc"));
  EXPECT_EQ(first.resource<Total>().value, 0);
  EXPECT_EQ(second.resource<Total>().value, 0);
  p.run(first, 5);
  EXPECT_EQ(first.resource<Total>().value, 5);
}

TEST(Pipeline, IsNamedAfterWhereItWasStarted) {
  keel::World world = make_world();
  const int line = __LINE__ + 1;
  auto p = keel::pipeline<int>(world.registry()).then([](int) {}).build();
  EXPECT_TRUE(Contains(p.name(), "pipeline at pipeline_test.cc:" + std::to_string(line)));
}

TEST(Pipeline, BoxesIntoHandlerOfItsEvent) {
  keel::World world = make_world();
  std::unique_ptr<keel::Handler<int>> boxed =
      keel::boxed(keel::pipeline<int>(world.registry()).then([](keel::ResMut<Total> t, int x) { t->value += x; }).build());
  boxed->run(world, 3);
  boxed->run(world, 4);
  EXPECT_EQ(world.resource<Total>().value, 7);
  EXPECT_TRUE(Contains(boxed->name(), "pipeline at"));

  std::unique_ptr<keel::Handler<const RawMsg&>> by_ref = keel::boxed(
      keel::pipeline<const RawMsg&>(world.registry()).then(pipeline_test::decode).map(pipeline_test::to_order).build());
  by_ref->run(world, RawMsg{.px = 0});
  EXPECT_EQ(world.resource<Outcomes>().undecodable, 1);
}

TEST(Pipeline, FitsInAnInlineHandler) {
  keel::World world = make_world();
  keel::InlineHandler<int, 64> slot =
      keel::pipeline<int>(world.registry())
          .then([](keel::Res<Limits> lim, int x) { return x * lim->max_qty; })
          .then([](keel::ResMut<Total> t, int x) { t->value += x; })
          .build();
  slot.run(world, 2);
  EXPECT_EQ(world.resource<Total>().value, 200);
  EXPECT_TRUE(Contains(slot.name(), "pipeline at"));
}

TEST(Pipeline, BuildingFromAnLvalueBuilderGivesIndependentPipelines) {
  keel::World world = make_world();
  std::vector<int> out;
  auto builder = keel::pipeline<int>(world.registry())
                     .then([](keel::Local<int> n, int x) {
                       *n += x;
                       return *n;
                     })
                     .then([&](int total) { out.push_back(total); });
  auto a = builder.build();
  auto b = builder.build();
  a.run(world, 1);
  a.run(world, 1);
  b.run(world, 1);  // b's Local starts from the builder's, not from a's
  EXPECT_EQ(out, (std::vector<int>{1, 2, 1}));
}

// ---------------------------------------------------------------------------
// Copies and moves

TEST(PipelineCopies, AnRvalueEventIsMovedNeverCopiedAlongThenAndMap) {
  keel::World world = make_world();
  Counts counts;
  int seen = 0;
  auto p = keel::pipeline<Tracked>(world.registry())
               .then([](Tracked t) { return t; })                                               // 2 moves: in, out
               .then([](Tracked t) -> Opt<Tracked> { return Opt<Tracked>(std::move(t)); })      // 2: in, into the optional
               .map([](Tracked t) { return t; })                                                // 2: in, out (built in place in the optional)
               .tap([](const Opt<Tracked>&) {})                                                 // 1: an rvalue is passed on by value
               .inspect([](const Tracked&) {})                                                  // 1: same
               .map([&](Tracked&& t) { seen = t.value; })                                       // 0: by reference
               .build();
  p.run(world, Tracked(counts, 42));  // the prvalue initializes run()'s parameter: no move
  EXPECT_EQ(seen, 42);
  EXPECT_EQ(counts.copies, 0);
  EXPECT_EQ(counts.moves, 8);
}

TEST(PipelineCopies, AConstRefEventIsNeitherCopiedNorMovedByPassThroughSteps) {
  keel::World world = make_world();
  Counts counts;
  const Tracked event(counts, 7);
  const Tracked* seen = nullptr;
  auto b = keel::pipeline<const Tracked&>(world.registry())
               .tap([](const Tracked&) {})
               .tap([](const Tracked&) {});
  static_assert(std::is_same_v<decltype(b)::output_type, const Tracked&>);  // lvalues stay references
  auto p = std::move(b).then([&](const Tracked& t) { seen = &t; }).build();
  p.run(world, event);
  EXPECT_EQ(seen, &event);
  EXPECT_EQ(counts.copies, 0);
  EXPECT_EQ(counts.moves, 0);
}

TEST(PipelineCopies, PassThroughStepsOnAnRvalueCarryAValueNotADanglingReference) {
  keel::World world = make_world();
  Counts counts;
  int seen = 0;
  auto b = keel::pipeline<int>(world.registry())
               .then([&](int x) { return Tracked(counts, x); })
               .tap([](const Tracked&) {});
  static_assert(std::is_same_v<decltype(b)::output_type, Tracked>);  // rvalues become values
  auto p = std::move(b).then([&](const Tracked& t) { seen = t.value; }).build();
  p.run(world, 9);
  EXPECT_EQ(seen, 9);
  EXPECT_EQ(counts.copies, 0);
}

TEST(PipelineCopies, ABoxedPipelineMovesItsRvalueEventWithoutCopying) {
  keel::World world = make_world();
  Counts counts;
  int seen = 0;
  auto boxed = keel::boxed(keel::pipeline<Tracked>(world.registry())
                               .then([&](Tracked&& t) { seen = t.value; })
                               .build());
  boxed->run(world, Tracked(counts, 3));
  EXPECT_EQ(seen, 3);
  EXPECT_EQ(counts.copies, 0);
}

}  // namespace
