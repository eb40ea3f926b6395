// Tests for rt/dag.h: keel::dag<In>(registry) with fork/arm/merge (2, 3 and 4
// arms, and merges that take the fork value first), join, route and tee;
// arms reading the fork value by const&; the
// optional/expected combinators inside arms; the built DAG as a handler.
#include "rt/dag.h"

#include <gtest/gtest.h>

#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "rt/error.h"
#include "rt/handler.h"
#include "rt/param.h"
#include "rt/world.h"
#include "tests/rt/fixtures.h"
#include "tests/rt/tracking.h"

namespace dag_test {

// A fair-value DAG: two arms (mid, spread) over a decoded tick, merged.
struct Tick {
  double bid = 0;
  double ask = 0;
};
struct Mid {
  double value = 0;
};
struct Spread {
  double value = 0;
};
struct Fair {
  double value = 0;
};

struct Published {
  std::vector<double> fair;
};
struct Total {
  long value = 0;
};
struct Missing {};

Tick decode(const Tick& t) { return t; }
Mid update_mid(const Tick& t) { return Mid{(t.bid + t.ask) / 2}; }
Spread update_spread(const Tick& t) { return Spread{t.ask - t.bid}; }
Fair compute_fair(const Mid& m, const Spread& s) { return Fair{m.value + s.value / 10}; }
void publish(keel::ResMut<Published> p, Fair f) { p->fair.push_back(f.value); }

}  // namespace dag_test

using dag_test::Fair;
using dag_test::Mid;
using dag_test::Missing;
using dag_test::Published;
using dag_test::Spread;
using dag_test::Tick;
using dag_test::Total;
using keel_test::config_error_message;
using keel_test::Contains;
using keel_test::Counts;
using keel_test::Tracked;

namespace {

keel::World make_world() { return keel_test::world_with(Published{}, Total{}); }

template <class T>
using Opt = std::optional<T>;
template <class T>
using Exp = std::expected<T, std::string>;

// ---------------------------------------------------------------------------
// fork / arm / merge

TEST(DagMerge, TwoArmsFeedTheMergeFunctionAndTheChainContinues) {
  keel::World world = make_world();
  using namespace dag_test;
  auto d = keel::dag<Tick>(world.registry())
               .root(decode)
               .fork()
               .arm([](auto a) { return a.then(update_mid); })
               .arm([](auto b) { return b.then(update_spread); })
               .merge(compute_fair)
               .then(publish)
               .build();
  d.run(world, Tick{.bid = 99, .ask = 101});
  d.run(world, Tick{.bid = 10, .ask = 20});
  EXPECT_EQ(world.resource<Published>().fair, (std::vector<double>{100.2, 16.0}));
}

TEST(DagMerge, ThreeArms) {
  keel::World world = make_world();
  auto d = keel::dag<int>(world.registry())
               .root([](int x) { return x + 1; })
               .fork()
               .arm([](auto a) { return a.then([](const int& v) { return v * 100; }); })
               .arm([](auto b) { return b.then([](const int& v) { return v * 10; }); })
               .arm([](auto c) { return c.then([](const int& v) { return std::to_string(v); }); })
               .merge([](keel::ResMut<Total> t, int h, int d, std::string s) {
                 t->value = h + d + static_cast<long>(s.size());
               })
               .build();
  d.run(world, 1);  // 200 + 20 + 1
  EXPECT_EQ(world.resource<Total>().value, 221);
}

TEST(DagMerge, FourArms) {
  keel::World world = make_world();
  std::vector<int> out;
  auto d = keel::dag<int>(world.registry())
               .root([](int x) { return x; })
               .fork()
               .arm([](auto a) { return a.then([](const int& v) { return v + 1; }); })
               .arm([](auto b) { return b.then([](const int& v) { return v + 2; }); })
               .arm([](auto c) { return c.then([](const int& v) { return v + 3; }); })
               .arm([](auto e) { return e.then([](const int& v) { return v + 4; }); })
               .merge([](int a, int b, int c, int e) { return ((a * 10 + b) * 10 + c) * 10 + e; })
               .then([&](int r) { out.push_back(r); })
               .build();
  d.run(world, 0);
  d.run(world, 1);
  EXPECT_EQ(out, (std::vector<int>{1234, 2345}));
}

// merge() runs its arms in the order they were added, as join() does. The
// arms' results are gathered in a braced list, which is evaluated left to
// right; as function arguments (merge(world, arm.run(world, v)...)) their
// order would be unspecified, and g++ evaluates them last to first.
TEST(DagMerge, ArmsRunInTheOrderTheyWereAdded) {
  keel::World world = make_world();
  std::vector<int> order;
  auto d = keel::dag<int>(world.registry())
               .root([](int x) { return x; })
               .fork()
               .arm([&](auto a) { return a.then([&](const int&) { order.push_back(1); return 1; }); })
               .arm([&](auto b) { return b.then([&](const int&) { order.push_back(2); return 2; }); })
               .arm([&](auto c) { return c.then([&](const int&) { order.push_back(3); return 3; }); })
               .merge([&](int, int, int) { order.push_back(0); })
               .build();
  d.run(world, 0);
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3, 0}));
}

TEST(DagMerge, ArmsReadTheForkValueByConstRefWithoutCopies) {
  keel::World world = make_world();
  Counts counts;
  std::vector<const Tracked*> seen;
  auto d = keel::dag<int>(world.registry())
               .root([&](int x) { return Tracked(counts, x); })
               .fork()
               .arm([&](auto a) { return a.then([&](const Tracked& t) { seen.push_back(&t); return t.value; }); })
               .arm([&](auto b) { return b.then([&](const Tracked& t) { seen.push_back(&t); return t.value * 2; }); })
               .arm([&](auto c) {
                 return c.tap([&](const Tracked& t) { seen.push_back(&t); })
                     .then([&](const Tracked& t) { seen.push_back(&t); return t.value * 3; });
               })
               .merge([](keel::ResMut<Total> t, int a, int b, int c) { t->value = a + b + c; })
               .build();
  d.run(world, 5);
  EXPECT_EQ(world.resource<Total>().value, 30);
  ASSERT_EQ(seen.size(), 4u);
  for (const Tracked* p : seen) EXPECT_EQ(p, seen[0]);  // one fork value, shared
  EXPECT_EQ(counts.copies, 0);
}

TEST(DagMerge, AMergeFunctionMayTakeTheForkValuePassedThroughAnArm) {
  keel::World world = make_world();
  Counts counts;
  int seen = 0;
  auto d = keel::dag<int>(world.registry())
               .root([&](int x) { return Tracked(counts, x); })
               .fork()
               .arm([](auto a) { return a.tap([](const Tracked&) {}); })  // passes the const& on
               .arm([](auto b) { return b.then([](const Tracked& t) { return t.value + 1; }); })
               .merge([&](const Tracked& t, int next) { seen = t.value * 10 + next; })
               .build();
  d.run(world, 4);
  EXPECT_EQ(seen, 45);
  EXPECT_EQ(counts.copies, 0);
}

// merge(fn) reads its form from the number of arguments after the keel
// parameters: one per arm takes the arms' outputs; one more takes the fork
// value first, by const&, as the arms see it.
TEST(DagMergeForked, TheMergeFunctionSeesTheForkValueBeforeTheArmsOutputs) {
  keel::World world = make_world();
  using namespace dag_test;
  std::vector<double> out;
  auto d = keel::dag<Tick>(world.registry())
               .root(decode)
               .fork()
               .arm([](auto a) { return a.then(update_mid); })
               .arm([](auto b) { return b.then(update_spread); })
               .merge([&](const Tick& t, const Mid& m, const Spread& s) { out = {t.bid, t.ask, m.value, s.value}; })
               .build();
  d.run(world, Tick{.bid = 99, .ask = 101});
  EXPECT_EQ(out, (std::vector<double>{99, 101, 100, 2}));
}

TEST(DagMergeForked, TheForkValueIsTheOneTheArmsReadWithoutACopy) {
  keel::World world = make_world();
  Counts counts;
  std::vector<const Tracked*> seen;
  int merged = 0;
  auto d = keel::dag<int>(world.registry())
               .root([&](int x) { return Tracked(counts, x); })
               .fork()
               .arm([&](auto a) { return a.then([&](const Tracked& t) { seen.push_back(&t); return t.value + 1; }); })
               .arm([&](auto b) { return b.then([&](const Tracked& t) { seen.push_back(&t); return t.value + 2; }); })
               .merge([&](const Tracked& forked, int a, int b) {
                 seen.push_back(&forked);
                 merged = forked.value * 100 + a * 10 + b;
               })
               .build();
  d.run(world, 3);
  EXPECT_EQ(merged, 345);
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[2], seen[0]);  // the merge's forked value is the arms' fork value
  EXPECT_EQ(seen[1], seen[0]);
  EXPECT_EQ(counts.copies, 0);
}

TEST(DagMergeForked, AConstRefEventIsTheForkValueItself) {
  keel::World world = make_world();
  const Tick* seen = nullptr;
  auto d = keel::dag<const Tick&>(world.registry())
               .fork()
               .arm([](auto a) { return a.then(dag_test::update_mid); })
               .arm([](auto b) { return b.then(dag_test::update_spread); })
               .merge([&](const Tick& forked, Mid, Spread) { seen = &forked; })
               .build();
  const Tick tick{.bid = 1, .ask = 3};
  d.run(world, tick);
  EXPECT_EQ(seen, &tick);
}

TEST(DagMergeForked, KeelParametersComeBeforeTheForkValue) {
  keel::World world = make_world();
  auto d = keel::dag<int>(world.registry())
               .root([](int x) { return x; })
               .fork()
               .arm([](auto a) { return a.then([](const int& v) { return v * 10; }); })
               .arm([](auto b) { return b.then([](const int& v) { return v * 100; }); })
               .merge([](keel::ResMut<Total> total, keel::Local<int> runs, const int& forked, int tens, int hundreds) {
                 ++*runs;
                 total->value = (forked + tens + hundreds) * *runs;
               })
               .build();
  d.run(world, 1);  // 111 * 1
  EXPECT_EQ(world.resource<Total>().value, 111);
  d.run(world, 2);  // 222 * 2
  EXPECT_EQ(world.resource<Total>().value, 444);
}

// When the arms produce the fork value's own type, only the count tells the
// forms apart: n arguments are the n outputs, n + 1 put the fork value first.
TEST(DagMergeForked, TheFormIsReadFromTheArgumentCountNotFromTheTypes) {
  keel::World world = make_world();
  std::vector<int> out;
  auto plain = keel::dag<int>(world.registry())
                   .root([](int x) { return x; })
                   .fork()
                   .arm([](auto a) { return a.then([](const int& v) { return v + 1; }); })
                   .arm([](auto b) { return b.then([](const int& v) { return v + 2; }); })
                   .merge([&](int a, int b) { out.push_back(a * 10 + b); })
                   .build();
  auto forked = keel::dag<int>(world.registry())
                    .root([](int x) { return x; })
                    .fork()
                    .arm([](auto a) { return a.then([](const int& v) { return v + 1; }); })
                    .arm([](auto b) { return b.then([](const int& v) { return v + 2; }); })
                    .merge([&](int v, int a, int b) { out.push_back(v * 100 + a * 10 + b); })
                    .build();
  plain.run(world, 1);
  forked.run(world, 1);
  EXPECT_EQ(out, (std::vector<int>{23, 123}));
}

TEST(DagMergeForked, AGenericMergeFunctionMayTakeTheForkValue) {
  keel::World world = make_world();
  std::vector<std::string> out;
  auto d = keel::dag<std::string>(world.registry())
               .root([](std::string s) { return s; })
               .fork()
               .arm([](auto a) { return a.then([](const std::string& s) { return s.size(); }); })
               .arm([](auto b) { return b.then([](const std::string& s) { return s + s; }); })
               .merge([&](const auto& forked, auto size, const auto& twice) {
                 out.push_back(forked + "/" + std::to_string(size) + "/" + twice);
               })
               .build();
  d.run(world, "ab");
  EXPECT_EQ(out, (std::vector<std::string>{"ab/2/abab"}));
}

// The order-gateway shape: two checks on a request, and a decision that
// needs the request as well as both verdicts.
TEST(DagMergeForked, ADecisionSeesTheRequestAndEveryVerdict) {
  struct OrderReq {
    int qty = 0;
  };
  struct Verdict {
    bool ok = true;
  };
  keel::World world = make_world();
  std::vector<int> sent;
  auto d = keel::dag<OrderReq>(world.registry())
               .root([](const OrderReq& r) { return r; })
               .fork()
               .arm([](auto a) { return a.then([](const OrderReq& r) { return Verdict{r.qty <= 100}; }); })
               .arm([](auto b) { return b.then([](const OrderReq& r) { return Verdict{r.qty > 0}; }); })
               .merge([](const OrderReq& r, Verdict size, Verdict positive) {
                 return size.ok && positive.ok ? std::optional<int>(r.qty) : std::nullopt;
               })
               .map([&](int qty) { sent.push_back(qty); })
               .build();
  for (int qty : {5, 0, 500, 7}) d.run(world, OrderReq{qty});
  EXPECT_EQ(sent, (std::vector<int>{5, 7}));
}

TEST(DagMerge, ArmsUseOptionalAndExpectedCombinators) {
  keel::World world = make_world();
  std::vector<std::string> out;
  std::vector<std::string> errors;
  auto d = keel::dag<int>(world.registry())
               .root([](int x) { return x; })
               .fork()
               .arm([](auto a) {
                 return a.filter([](const int& v) { return v % 2 == 0; }).map([](int v) { return v / 2; });
               })
               .arm([&](auto b) {
                 return b
                     .then([](const int& v) -> Exp<int> {
                       if (v < 0) return std::unexpected("negative");
                       return v;
                     })
                     .map([](int v) { return v * 10; })
                     .inspect_error([&](const std::string& e) { errors.push_back(e); })
                     .unwrap_or(-1);
               })
               .merge([&](Opt<int> half, int tens) {
                 out.push_back((half ? std::to_string(*half) : std::string("none")) + "/" + std::to_string(tens));
               })
               .build();
  d.run(world, 4);
  d.run(world, 3);
  d.run(world, -2);
  EXPECT_EQ(out, (std::vector<std::string>{"2/40", "none/30", "-1/-1"}));
  EXPECT_EQ(errors, (std::vector<std::string>{"negative"}));
}

TEST(DagMerge, MergeFunctionTakesKeelParameters) {
  keel::World world = make_world();
  auto d = keel::dag<int>(world.registry())
               .root([](int x) { return x; })
               .fork()
               .arm([](auto a) { return a.then([](const int& v) { return v; }); })
               .arm([](auto b) { return b.then([](const int& v) { return -v; }); })
               .merge([](keel::ResMut<Total> total, keel::Local<int> runs, int a, int b) {
                 ++*runs;
                 total->value += (a - b) * *runs;
               })
               .build();
  d.run(world, 1);  // 2 * 1
  d.run(world, 1);  // 2 * 2
  EXPECT_EQ(world.resource<Total>().value, 6);
}

TEST(DagMerge, ArmStepsTakeKeelParameters) {
  keel::World world = make_world();
  auto d = keel::dag<int>(world.registry())
               .root([](int x) { return x; })
               .fork()
               .arm([](auto a) { return a.then([](keel::Local<int> n, const int& v) { return v + ++*n; }); })
               .arm([](auto b) { return b.then([](keel::Res<Total> t, const int& v) { return v + t->value; }); })
               .merge([](keel::ResMut<Total> t, int a, int b) { t->value = a * 1000 + b; })
               .build();
  d.run(world, 1);  // a = 1 + 1, b = 1 + 0
  EXPECT_EQ(world.resource<Total>().value, 2001);
  d.run(world, 1);  // a = 1 + 2, b = 1 + 2001
  EXPECT_EQ(world.resource<Total>().value, 5002);
}

TEST(DagMerge, ArmOutputsReachTheMergeStepWithoutCopiesOrMoves) {
  keel::World world = make_world();
  Counts counts;
  int seen = 0;
  auto d = keel::dag<int>(world.registry())
               .root([](int x) { return x; })
               .fork()
               .arm([&](auto a) { return a.then([&](const int& v) { return Tracked(counts, v); }); })
               .arm([&](auto b) { return b.then([&](const int& v) { return Tracked(counts, v + 1); }); })
               .merge([&](const Tracked& a, Tracked&& b) { seen = a.value * 10 + b.value; })
               .build();
  d.run(world, 1);
  EXPECT_EQ(seen, 12);
  EXPECT_EQ(counts.copies, 0);
  EXPECT_EQ(counts.moves, 0);
}

// An arm may fork, route and tee like any chain. Inside an arm the builder
// is an lvalue parameter, so fork(), route() and tee(), like every other
// combinator, are not &&-qualified (a.fork() would fail with "discards
// qualifiers [-fpermissive]").
TEST(DagMerge, AnArmMayItselfForkAndMerge) {
  keel::World world = make_world();
  std::vector<int> out;
  auto d = keel::dag<int>(world.registry())
               .root([](int x) { return x; })
               .fork()
               .arm([](auto a) {
                 return a.fork()
                     .arm([](auto x) { return x.then([](const int& v) { return v + 1; }); })
                     .arm([](auto y) { return y.then([](const int& v) { return v + 2; }); })
                     .merge([](int x, int y) { return x * y; });
               })
               .arm([](auto b) { return b.then([](const int& v) { return v; }); })
               .merge([&](int product, int v) { out.push_back(product - v); })
               .build();
  d.run(world, 3);  // (4 * 5) - 3
  EXPECT_EQ(out, (std::vector<int>{17}));
}

TEST(DagMerge, MissingResourceInAnArmThrowsConfigErrorWhenTheArmIsAdded) {
  keel::World world = make_world();
  const std::string message = config_error_message([&] {
    keel::dag<int>(world.registry())
        .root([](int x) { return x; })
        .fork()
        .arm([](auto a) { return a.then([](keel::Res<Missing>, const int& v) { return v; }); });
  });
  EXPECT_TRUE(Contains(message, "'dag_test::Missing'"));
  EXPECT_TRUE(Contains(message, "lambda at dag_test.cc:"));
}

// ---------------------------------------------------------------------------
// join

TEST(DagJoin, RunsEveryArmAsASinkAndEndsTheDag) {
  keel::World world = make_world();
  std::vector<std::string> out;
  auto b = keel::dag<int>(world.registry())
               .root([](int x) { return x * 2; })
               .fork()
               .arm([&](auto a) { return a.then([&](const int& v) { out.push_back("a" + std::to_string(v)); }); })
               .arm([&](auto c) {
                 return c.guard([](const int& v) { return v > 2; }).map([&](int v) {
                   out.push_back("c" + std::to_string(v));
                 });
               })
               .arm([](auto e) { return e.then([](keel::ResMut<Total> t, const int& v) { t->value += v; }); })
               .join();
  static_assert(std::is_void_v<decltype(b)::output_type>);
  auto d = std::move(b).build();
  d.run(world, 1);
  d.run(world, 2);
  EXPECT_EQ(out, (std::vector<std::string>{"a2", "a4", "c4"}));
  EXPECT_EQ(world.resource<Total>().value, 6);
}

TEST(DagJoin, ASingleArmIsEnough) {
  keel::World world = make_world();
  auto d = keel::dag<int>(world.registry())
               .root([](int x) { return x + 1; })
               .fork()
               .arm([](auto a) { return a.then([](keel::ResMut<Total> t, const int& v) { t->value += v; }); })
               .join()
               .build();
  d.run(world, 1);
  d.run(world, 2);
  EXPECT_EQ(world.resource<Total>().value, 5);
}

TEST(DagJoin, ArmsMayEndWithAValueThatIsDropped) {
  keel::World world = make_world();
  int runs = 0;
  auto d = keel::dag<int>(world.registry())
               .root([](int x) { return x; })
               .fork()
               .arm([&](auto a) { return a.then([&](const int& v) { ++runs; return v; }); })
               .arm([&](auto b) { return b.tap([&](const int&) { ++runs; }); })
               .join()
               .build();
  d.run(world, 1);
  EXPECT_EQ(runs, 2);
}

// ---------------------------------------------------------------------------
// route and tee

TEST(DagRoute, TakesTheTrueArmOrTheFalseArmAndContinuesWithItsOutput) {
  keel::World world = make_world();
  int true_runs = 0;
  int false_runs = 0;
  std::vector<std::string> out;
  auto d = keel::dag<int>(world.registry())
               .root([](int x) { return x; })
               .route([](const int& v) { return v >= 0; },
                      [&](auto pos) { return pos.then([&](const int& v) { ++true_runs; return "+" + std::to_string(v); }); },
                      [&](auto neg) { return neg.then([&](const int& v) { ++false_runs; return std::to_string(v); }); })
               .then([&](std::string s) { out.push_back(std::move(s)); })
               .build();
  d.run(world, 3);
  d.run(world, -3);
  d.run(world, 0);
  EXPECT_EQ(out, (std::vector<std::string>{"+3", "-3", "+0"}));
  EXPECT_EQ(true_runs, 2);
  EXPECT_EQ(false_runs, 1);
}

TEST(DagRoute, ArmsMayBeSinks) {
  keel::World world = make_world();
  auto d = keel::dag<int>(world.registry())
               .root([](int x) { return x; })
               .route([](keel::Res<Total> t, const int& v) { return v > t->value; },
                      [](auto up) { return up.then([](keel::ResMut<Total> t, const int& v) { t->value = v; }); },
                      [](auto down) { return down.then([](keel::ResMut<Total> t, const int&) { t->value -= 1; }); })
               .build();
  d.run(world, 10);  // 10 > 0: set
  d.run(world, 4);   // 4 <= 10: down
  d.run(world, 9);   // 9 <= 9: down
  d.run(world, 20);  // set
  EXPECT_EQ(world.resource<Total>().value, 20);
}

TEST(DagRoute, ArmsUseCombinatorsOnAnOptionalForkValue) {
  keel::World world = make_world();
  std::vector<int> out;
  auto d = keel::dag<int>(world.registry())
               .root([](int x) -> Opt<int> { return x == 0 ? std::nullopt : Opt<int>(x); })
               .route([](const Opt<int>& v) { return v.has_value(); },
                      [](auto some) { return some.map([](int v) { return v * 2; }).unwrap_or(0); },
                      [](auto none) { return none.unwrap_or(-1); })
               .then([&](int v) { out.push_back(v); })
               .build();
  d.run(world, 5);
  d.run(world, 0);
  EXPECT_EQ(out, (std::vector<int>{10, -1}));
}

TEST(DagTee, RunsASideArmAndContinuesWithTheSameValue) {
  keel::World world = make_world();
  std::vector<int> side;
  std::vector<int> main;
  auto d = keel::dag<int>(world.registry())
               .root([](int x) { return x * 3; })
               .tee([&](auto arm) {
                 return arm.filter([](const int& v) { return v > 3; }).map([&](int v) { side.push_back(v); });
               })
               .then([&](int v) { main.push_back(v); })
               .build();
  d.run(world, 1);
  d.run(world, 2);
  EXPECT_EQ(side, (std::vector<int>{6}));
  EXPECT_EQ(main, (std::vector<int>{3, 6}));
}

TEST(DagTee, AnArmMayTeeAndRouteInside) {
  keel::World world = make_world();
  std::vector<std::string> out;
  auto d = keel::dag<int>(world.registry())
               .root([](int x) { return x; })
               .fork()
               .arm([&](auto a) {
                 return a.tee([&](auto side) { return side.then([&](const int& v) { out.push_back("tee" + std::to_string(v)); }); })
                     .route([](const int& v) { return v > 0; },
                            [](auto pos) { return pos.then([](const int&) { return std::string("pos"); }); },
                            [](auto neg) { return neg.then([](const int&) { return std::string("neg"); }); });
               })
               .arm([](auto b) { return b.then([](const int& v) { return v * v; }); })
               .merge([&](std::string sign, int square) { out.push_back(sign + std::to_string(square)); })
               .build();
  d.run(world, 2);
  d.run(world, -3);
  EXPECT_EQ(out, (std::vector<std::string>{"tee2", "pos4", "tee-3", "neg9"}));
}

TEST(DagTee, TheSideArmSeesTheValueWithoutCopyingIt) {
  keel::World world = make_world();
  Counts counts;
  const Tracked* side = nullptr;
  const Tracked* main = nullptr;
  auto d = keel::dag<int>(world.registry())
               .root([&](int x) { return Tracked(counts, x); })
               .tee([&](auto arm) { return arm.then([&](const Tracked& t) { side = &t; }); })
               .then([&](const Tracked& t) { main = &t; })
               .build();
  d.run(world, 1);
  ASSERT_NE(side, nullptr);
  ASSERT_NE(main, nullptr);
  EXPECT_EQ(counts.copies, 0);
}

// ---------------------------------------------------------------------------
// The built DAG as a handler

TEST(Dag, BoxesIntoHandlerOfItsEvent) {
  keel::World world = make_world();
  using namespace dag_test;
  std::unique_ptr<keel::Handler<const Tick&>> boxed = keel::boxed(keel::dag<const Tick&>(world.registry())
                                                                      .root(update_mid)
                                                                      .fork()
                                                                      .arm([](auto a) { return a.then([](const Mid& m) { return m; }); })
                                                                      .arm([](auto b) { return b.then([](const Mid& m) { return Spread{m.value / 100}; }); })
                                                                      .merge(compute_fair)
                                                                      .then(publish)
                                                                      .build());
  boxed->run(world, Tick{.bid = 99, .ask = 101});
  EXPECT_EQ(world.resource<Published>().fair, (std::vector<double>{100.1}));
  EXPECT_TRUE(Contains(boxed->name(), "dag at dag_test.cc"));
}

TEST(Dag, RunOnAnotherWorldThrowsConfigError) {
  if (!keel::internal::kCheckWorld) GTEST_SKIP() << "the wrong-World check is compiled out (NDEBUG)";
  keel::World first = make_world();
  keel::World second = make_world();
  auto d = keel::dag<int>(first.registry())
               .root([](int x) { return x; })
               .fork()
               .arm([](auto a) { return a.then([](keel::ResMut<Total> t, const int& v) { t->value += v; }); })
               .join()
               .build();
  EXPECT_THROW(d.run(second, 1), keel::ConfigError);
  EXPECT_EQ(first.resource<Total>().value, 0);
  EXPECT_EQ(second.resource<Total>().value, 0);
}

TEST(Dag, FitsInAnInlineHandler) {
  keel::World world = make_world();
  keel::InlineHandler<int, 64> slot = keel::dag<int>(world.registry())
                                          .root([](int x) { return x; })
                                          .fork()
                                          .arm([](auto a) { return a.then([](const int& v) { return v; }); })
                                          .arm([](auto b) { return b.then([](const int& v) { return v; }); })
                                          .merge([](keel::ResMut<Total> t, int a, int b) { t->value = a + b; })
                                          .build();
  slot.run(world, 21);
  EXPECT_EQ(world.resource<Total>().value, 42);
}

}  // namespace
