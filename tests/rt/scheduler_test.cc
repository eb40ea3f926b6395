// Tests for rt/scheduler.h: keel::SchedulerInstaller, keel::Scheduler and
// keel::SystemId — ordering, the skip rule, install-time errors, size.
#include "rt/scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <functional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rt/error.h"
#include "rt/param.h"
#include "rt/world.h"
#include "tests/rt/fixtures.h"

namespace scheduler_test {

// Which systems ran, in order (each tracked system logs its number).
struct Log {
  std::vector<int> ran;
};
// What each tracked system returns: changed[k] for system k.
struct Reports {
  std::vector<char> changed;
};
struct Missing {};
struct RegisteredLate {};

}  // namespace scheduler_test

using keel_test::config_error_message;
using keel_test::Contains;
using keel_test::InitCounter;
using scheduler_test::Log;
using scheduler_test::Missing;
using scheduler_test::RegisteredLate;
using scheduler_test::Reports;

// Named systems for the error-message tests (their names come from the
// symbol table). Distinct bodies keep identical-code folding from merging
// them.
bool cycle_a(keel::ResMut<Log> log) { return log->ran.emplace_back(1) == 1; }
bool cycle_b(keel::ResMut<Log> log) { return log->ran.emplace_back(2) == 2; }
bool cycle_c(keel::ResMut<Log> log) { return log->ran.emplace_back(3) == 3; }
bool unrelated_system(keel::ResMut<Log> log) { return log->ran.emplace_back(4) == 4; }
bool downstream_of_cycle(keel::ResMut<Log> log) { return log->ran.emplace_back(5) == 5; }
bool self_loop(keel::ResMut<Log> log) { return log->ran.emplace_back(6) == 6; }
bool needs_missing(keel::Res<Missing>, keel::ResMut<Log> log) { return log->ran.emplace_back(7) == 7; }
void needs_late(keel::Res<RegisteredLate>, keel::ResMut<Log> log) { log->ran.push_back(8); }

namespace {

// A World whose tracked systems 0..count-1 all report a change by default.
keel::WorldBuilder make_builder(std::size_t count) {
  keel::WorldBuilder wb;
  wb.insert(Log{});
  wb.insert(Reports{.changed = std::vector<char>(count, 1)});
  return wb;
}

// System k: logs k, returns Reports::changed[k].
keel::SystemId add_tracked(keel::SchedulerInstaller& sched, int k) {
  return sched.add([k](keel::ResMut<Log> log, keel::Res<Reports> reports) {
    log->ran.push_back(k);
    return reports->changed[static_cast<std::size_t>(k)] != 0;
  });
}

// System k returning void: logs k.
keel::SystemId add_void(keel::SchedulerInstaller& sched, int k) {
  return sched.add([k](keel::ResMut<Log> log) { log->ran.push_back(k); });
}

// Runs one pass after clearing the log; returns what run() returned.
std::size_t run_pass(keel::Scheduler& systems, keel::World& world) {
  world.resource<Log>().ran.clear();
  return systems.run(world);
}

std::vector<int>& ran(keel::World& world) { return world.resource<Log>().ran; }
void set_changed(keel::World& world, int k, bool changed) {
  world.resource<Reports>().changed[static_cast<std::size_t>(k)] = changed ? 1 : 0;
}

// --- ordering -------------------------------------------------------------------

// a -> {b, c} -> d, added as d, c, b, a: the order follows the edges, and
// b and c (both ready once a ran) run in add order: c before b.
TEST(Scheduler, RunsADiamondInTopologicalOrderWithTiesInAddOrder) {
  keel::WorldBuilder wb = make_builder(4);
  keel::SchedulerInstaller sched;
  const auto d = add_tracked(sched, 3);
  const auto c = add_tracked(sched, 2);
  const auto b = add_tracked(sched, 1);
  const auto a = add_tracked(sched, 0);
  sched.after(b, a).after(c, a).after(d, {b, c});
  keel::Scheduler systems = wb.install_driver(std::move(sched));
  keel::World world = std::move(wb).build();

  EXPECT_EQ(run_pass(systems, world), 4u);
  EXPECT_EQ(ran(world), (std::vector<int>{0, 2, 1, 3}));
}

TEST(Scheduler, IndependentSystemsRunInAddOrder) {
  keel::WorldBuilder wb = make_builder(5);
  keel::SchedulerInstaller sched;
  for (int k : {4, 1, 3, 0, 2}) add_tracked(sched, k);
  keel::Scheduler systems = wb.install_driver(std::move(sched));
  keel::World world = std::move(wb).build();

  systems.run(world);
  EXPECT_EQ(ran(world), (std::vector<int>{4, 1, 3, 0, 2}));
}

// A pass cannot nest: run() from inside one of its systems is refused, and
// the scheduler runs normally afterwards.
TEST(Scheduler, RunFromInsideOneOfItsSystemsIsAConfigError) {
  keel::WorldBuilder wb = make_builder(1);
  keel::SchedulerInstaller sched;
  keel::Scheduler* self = nullptr;
  int nested_attempts = 0;
  sched.add([&self, &nested_attempts](keel::World& w) {
    if (++nested_attempts == 1) self->run(w);
    return true;
  });
  keel::Scheduler systems = wb.install_driver(std::move(sched));
  self = &systems;
  keel::World world = std::move(wb).build();

  const std::string message = config_error_message([&] { systems.run(world); });
  EXPECT_TRUE(Contains(message, "a pass cannot nest")) << message;
  EXPECT_EQ(systems.run(world), 1u);
  EXPECT_EQ(nested_attempts, 2);
}

// Two diamonds sharing a sink, with a long branch: a system never runs
// before any of its upstreams, whatever the add order.
TEST(Scheduler, NeverRunsASystemBeforeItsUpstreams) {
  keel::WorldBuilder wb = make_builder(8);
  keel::SchedulerInstaller sched;
  std::vector<keel::SystemId> id(8);
  for (int k : {7, 5, 6, 3, 4, 1, 2, 0}) id[static_cast<std::size_t>(k)] = add_tracked(sched, k);
  const std::vector<std::pair<int, int>> edges = {{1, 0}, {2, 0}, {3, 1}, {3, 2}, {4, 3},
                                                  {5, 0}, {6, 5}, {7, 4}, {7, 6}};
  for (const auto& [down, up] : edges)
    sched.after(id[static_cast<std::size_t>(down)], id[static_cast<std::size_t>(up)]);
  keel::Scheduler systems = wb.install_driver(std::move(sched));
  keel::World world = std::move(wb).build();

  EXPECT_EQ(run_pass(systems, world), 8u);
  std::vector<std::size_t> position(8);
  for (std::size_t p = 0; p < ran(world).size(); ++p) position[static_cast<std::size_t>(ran(world)[p])] = p;
  for (const auto& [down, up] : edges)
    EXPECT_LT(position[static_cast<std::size_t>(up)], position[static_cast<std::size_t>(down)])
        << down << " ran before its upstream " << up;
  // Ties in add order: among the systems ready together, the one added first.
  EXPECT_EQ(ran(world), (std::vector<int>{0, 5, 6, 1, 2, 3, 4, 7}));
}

TEST(Scheduler, OrderListsTheSystemsNamesInRunOrder) {
  keel::WorldBuilder wb = make_builder(0);
  keel::SchedulerInstaller sched;
  const auto b = sched.add(cycle_b);
  const auto a = sched.add(cycle_a);
  sched.after(b, a);
  keel::Scheduler systems = wb.install_driver(std::move(sched));
  EXPECT_EQ(systems.order(), (std::vector<std::string_view>{"cycle_a", "cycle_b"}));
  EXPECT_EQ(systems.name(b), "cycle_b");
  EXPECT_EQ(systems.size(), 2u);
}

TEST(Scheduler, RepeatedEdgeIsHarmless) {
  keel::WorldBuilder wb = make_builder(2);
  keel::SchedulerInstaller sched;
  const auto a = add_tracked(sched, 0);
  const auto b = add_tracked(sched, 1);
  sched.after(b, a).after(b, a).after(b, {a, a});
  keel::Scheduler systems = wb.install_driver(std::move(sched));
  keel::World world = std::move(wb).build();

  EXPECT_EQ(run_pass(systems, world), 2u);
  EXPECT_EQ(ran(world), (std::vector<int>{0, 1}));
}

// --- the skip rule -----------------------------------------------------------------

TEST(Scheduler, RootsAlwaysRunEvenWhenTheyReportNoChange) {
  keel::WorldBuilder wb = make_builder(2);
  keel::SchedulerInstaller sched;
  add_tracked(sched, 0);
  add_tracked(sched, 1);
  keel::Scheduler systems = wb.install_driver(std::move(sched));
  keel::World world = std::move(wb).build();
  set_changed(world, 0, false);
  set_changed(world, 1, false);

  for (int pass = 0; pass < 3; ++pass) {
    EXPECT_EQ(run_pass(systems, world), 2u);
    EXPECT_EQ(ran(world), (std::vector<int>{0, 1}));
  }
}

// a -> {b, c} -> d: d runs when b or c changed, and is skipped otherwise.
TEST(Scheduler, DiamondSinkRunsWhenEitherBranchChanged) {
  keel::WorldBuilder wb = make_builder(4);
  keel::SchedulerInstaller sched;
  const auto a = add_tracked(sched, 0);
  const auto b = add_tracked(sched, 1);
  const auto c = add_tracked(sched, 2);
  const auto d = add_tracked(sched, 3);
  sched.after(b, a).after(c, a).after(d, {b, c});
  keel::Scheduler systems = wb.install_driver(std::move(sched));
  keel::World world = std::move(wb).build();

  struct Case {
    bool b_changes, c_changes;
    std::vector<int> expected;
  };
  for (const Case& test : {Case{true, true, {0, 1, 2, 3}}, Case{true, false, {0, 1, 2, 3}},
                           Case{false, true, {0, 1, 2, 3}}, Case{false, false, {0, 1, 2}}}) {
    set_changed(world, 1, test.b_changes);
    set_changed(world, 2, test.c_changes);
    EXPECT_EQ(run_pass(systems, world), test.expected.size());
    EXPECT_EQ(ran(world), test.expected) << "b changes: " << test.b_changes << ", c changes: " << test.c_changes;
    EXPECT_EQ(systems.ran(d), test.expected.size() == 4);
  }
  // The root reporting no change skips everything after it.
  set_changed(world, 0, false);
  EXPECT_EQ(run_pass(systems, world), 1u);
  EXPECT_EQ(ran(world), (std::vector<int>{0}));
}

// A 100-system chain in which system 37 reports no change: 0..37 run,
// 38..99 are skipped; once 37 changes again, all 100 run.
TEST(Scheduler, ChangeStopsPropagatingAtTheFirstSystemThatReportsNone) {
  constexpr int kCount = 100;
  keel::WorldBuilder wb = make_builder(kCount);
  keel::SchedulerInstaller sched;
  std::vector<keel::SystemId> id;
  for (int k = 0; k < kCount; ++k) id.push_back(add_tracked(sched, k));
  for (int k = 1; k < kCount; ++k) sched.after(id[static_cast<std::size_t>(k)], id[static_cast<std::size_t>(k - 1)]);
  keel::Scheduler systems = wb.install_driver(std::move(sched));
  keel::World world = std::move(wb).build();

  set_changed(world, 37, false);
  EXPECT_EQ(run_pass(systems, world), 38u);
  std::vector<int> expected(38);
  for (int k = 0; k < 38; ++k) expected[static_cast<std::size_t>(k)] = k;
  EXPECT_EQ(ran(world), expected);
  EXPECT_TRUE(systems.ran(id[37]));
  EXPECT_FALSE(systems.changed(id[37]));
  EXPECT_FALSE(systems.ran(id[38]));
  EXPECT_FALSE(systems.ran(id[99]));

  set_changed(world, 37, true);
  EXPECT_EQ(run_pass(systems, world), 100u);
  EXPECT_TRUE(systems.ran(id[99]));
  EXPECT_TRUE(systems.changed(id[99]));
}

// 10 layers of 10 systems. System (L, i) runs after (L-1, i) and
// (L-1, i+1). Of the roots, only 2 and 7 report a change, and (1, 6) ran
// but reports none. Which systems run is checked against an independent
// oracle (a recursive definition of the skip rule) and against the
// hand-derived sets below.
TEST(Scheduler, LayeredDagOf100RunsExactlyTheSystemsReachedByAChange) {
  constexpr int kLayers = 10;
  constexpr int kWidth = 10;
  auto number = [](int layer, int i) { return layer * kWidth + i; };
  keel::WorldBuilder wb = make_builder(kLayers * kWidth);
  keel::SchedulerInstaller sched;
  std::vector<keel::SystemId> id(kLayers * kWidth);
  // Added deepest layer first, so the order must come from the edges.
  for (int layer = kLayers - 1; layer >= 0; --layer)
    for (int i = 0; i < kWidth; ++i)
      id[static_cast<std::size_t>(number(layer, i))] = add_tracked(sched, number(layer, i));
  for (int layer = 1; layer < kLayers; ++layer) {
    for (int i = 0; i < kWidth; ++i) {
      const auto self = id[static_cast<std::size_t>(number(layer, i))];
      sched.after(self, id[static_cast<std::size_t>(number(layer - 1, i))]);
      if (i + 1 < kWidth) sched.after(self, id[static_cast<std::size_t>(number(layer - 1, i + 1))]);
    }
  }
  keel::Scheduler systems = wb.install_driver(std::move(sched));
  keel::World world = std::move(wb).build();
  for (int i = 0; i < kWidth; ++i) set_changed(world, number(0, i), i == 2 || i == 7);
  set_changed(world, number(1, 6), false);

  const std::size_t count = run_pass(systems, world);
  const std::set<int> actual(ran(world).begin(), ran(world).end());
  ASSERT_EQ(actual.size(), ran(world).size()) << "a system ran twice in one pass";

  // Oracle: runs(L, i) = L == 0 || changed(L-1, i) || changed(L-1, i+1);
  // changed(L, i) = runs(L, i) && reports(L, i).
  const auto& reports = world.resource<Reports>().changed;
  std::function<bool(int, int)> runs, changed;
  runs = [&](int layer, int i) {
    return layer == 0 || changed(layer - 1, i) || (i + 1 < kWidth && changed(layer - 1, i + 1));
  };
  changed = [&](int layer, int i) {
    return runs(layer, i) && reports[static_cast<std::size_t>(number(layer, i))] != 0;
  };
  std::set<int> expected;
  for (int layer = 0; layer < kLayers; ++layer)
    for (int i = 0; i < kWidth; ++i)
      if (runs(layer, i)) expected.insert(number(layer, i));
  EXPECT_EQ(actual, expected);

  // By hand: layer 1 runs {1, 2, 6, 7}; (1, 6) stops, so layer 2 runs
  // {0, 1, 2, 6, 7}, layer 3 {0..2, 5..7}, layer 4 {0..2, 4..7}, layers
  // 5..9 {0..7}: 10 + 4 + 5 + 6 + 7 + 5 * 8 = 72.
  auto layer_set = [&](int layer) {
    std::set<int> s;
    for (int n : actual)
      if (n / kWidth == layer) s.insert(n % kWidth);
    return s;
  };
  EXPECT_EQ(count, 72u);
  EXPECT_EQ(layer_set(1), (std::set<int>{1, 2, 6, 7}));
  EXPECT_EQ(layer_set(2), (std::set<int>{0, 1, 2, 6, 7}));
  EXPECT_EQ(layer_set(3), (std::set<int>{0, 1, 2, 5, 6, 7}));
  EXPECT_EQ(layer_set(4), (std::set<int>{0, 1, 2, 4, 5, 6, 7}));
  EXPECT_EQ(layer_set(9), (std::set<int>{0, 1, 2, 3, 4, 5, 6, 7}));
  for (int n = 0; n < kLayers * kWidth; ++n)
    EXPECT_EQ(systems.ran(id[static_cast<std::size_t>(n)]), actual.contains(n)) << n;
}

TEST(Scheduler, VoidSystemCountsAsChangedForItsDownstreams) {
  keel::WorldBuilder wb = make_builder(3);
  keel::SchedulerInstaller sched;
  const auto root = add_void(sched, 0);
  const auto leaf = add_tracked(sched, 1);
  sched.after(leaf, root);
  keel::Scheduler systems = wb.install_driver(std::move(sched));
  keel::World world = std::move(wb).build();
  set_changed(world, 1, false);

  for (int pass = 0; pass < 3; ++pass) {
    EXPECT_EQ(run_pass(systems, world), 2u);
    EXPECT_TRUE(systems.changed(root));
  }
}

// bool root -> void middle -> leaf: the void system passes a change on when
// it runs, but it runs only when its upstream changed, and a skipped void
// system counts as unchanged.
TEST(Scheduler, SkippedVoidSystemCountsAsUnchanged) {
  keel::WorldBuilder wb = make_builder(3);
  keel::SchedulerInstaller sched;
  const auto root = add_tracked(sched, 0);
  const auto middle = add_void(sched, 1);
  const auto leaf = add_tracked(sched, 2);
  sched.after(middle, root).after(leaf, middle);
  keel::Scheduler systems = wb.install_driver(std::move(sched));
  keel::World world = std::move(wb).build();

  EXPECT_EQ(run_pass(systems, world), 3u);
  EXPECT_EQ(ran(world), (std::vector<int>{0, 1, 2}));

  set_changed(world, 0, false);
  EXPECT_EQ(run_pass(systems, world), 1u);
  EXPECT_EQ(ran(world), (std::vector<int>{0}));
  EXPECT_FALSE(systems.ran(middle));
  EXPECT_FALSE(systems.changed(middle));
  EXPECT_FALSE(systems.ran(leaf));
}

TEST(Scheduler, EachPassStartsFromTheRootsAgain) {
  keel::WorldBuilder wb = make_builder(2);
  keel::SchedulerInstaller sched;
  const auto a = add_tracked(sched, 0);
  const auto b = add_tracked(sched, 1);
  sched.after(b, a);
  keel::Scheduler systems = wb.install_driver(std::move(sched));
  keel::World world = std::move(wb).build();

  EXPECT_EQ(run_pass(systems, world), 2u);
  set_changed(world, 0, false);
  EXPECT_EQ(run_pass(systems, world), 1u);  // b's change in the last pass does not carry over
  set_changed(world, 0, true);
  EXPECT_EQ(run_pass(systems, world), 2u);
}

TEST(Scheduler, RanAndChangedAreFalseBeforeTheFirstRun) {
  keel::WorldBuilder wb = make_builder(1);
  keel::SchedulerInstaller sched;
  const auto a = add_tracked(sched, 0);
  keel::Scheduler systems = wb.install_driver(std::move(sched));
  keel::World world = std::move(wb).build();
  EXPECT_FALSE(systems.ran(a));
  EXPECT_FALSE(systems.changed(a));
  systems.run(world);
  EXPECT_TRUE(systems.ran(a));
  EXPECT_TRUE(systems.changed(a));
}

TEST(Scheduler, ExceptionEndsThePassAndTheNextPassStartsAfresh) {
  keel::WorldBuilder wb = make_builder(3);
  keel::SchedulerInstaller sched;
  const auto a = add_tracked(sched, 0);
  const auto thrower = sched.add([](keel::ResMut<Log> log, keel::Local<int> calls) {
    log->ran.push_back(1);
    if (++*calls == 1) throw std::runtime_error("first pass fails");
    return true;
  });
  const auto c = add_tracked(sched, 2);
  sched.after(thrower, a).after(c, thrower);
  keel::Scheduler systems = wb.install_driver(std::move(sched));
  keel::World world = std::move(wb).build();

  ran(world).clear();
  EXPECT_THROW(systems.run(world), std::runtime_error);
  EXPECT_EQ(ran(world), (std::vector<int>{0, 1}));
  EXPECT_FALSE(systems.ran(thrower));
  EXPECT_EQ(run_pass(systems, world), 3u);
}

// ran() and changed() describe the last run(), also one that threw: the
// systems it reached report what they did, the one that threw and every one
// after it report false, whatever they did in the pass before.
TEST(Scheduler, AfterAPassThatThrewSystemsItDidNotRunReportNotRunAndNotChanged) {
  keel::WorldBuilder wb = make_builder(5);
  keel::SchedulerInstaller sched;
  const auto a = add_tracked(sched, 0);
  const auto quiet = add_tracked(sched, 1);  // a root that reports no change in the pass that throws
  const auto thrower = sched.add([](keel::ResMut<Log> log, keel::Local<int> calls) {
    log->ran.push_back(2);
    if (++*calls == 2) throw std::runtime_error("second pass fails");
    return true;
  });
  const auto downstream = add_tracked(sched, 3);
  const auto independent = add_tracked(sched, 4);  // a root, after the thrower in run order
  sched.after(thrower, a).after(downstream, thrower);
  keel::Scheduler systems = wb.install_driver(std::move(sched));
  keel::World world = std::move(wb).build();
  ASSERT_EQ(systems.order().size(), 5u);

  EXPECT_EQ(run_pass(systems, world), 5u);
  EXPECT_EQ(ran(world), (std::vector<int>{0, 1, 2, 3, 4}));
  for (const auto id : {a, quiet, thrower, downstream, independent}) {
    EXPECT_TRUE(systems.ran(id));
    EXPECT_TRUE(systems.changed(id));
  }

  set_changed(world, 1, false);
  ran(world).clear();
  EXPECT_THROW(systems.run(world), std::runtime_error);
  EXPECT_EQ(ran(world), (std::vector<int>{0, 1, 2}));
  EXPECT_TRUE(systems.ran(a));
  EXPECT_TRUE(systems.changed(a));
  EXPECT_TRUE(systems.ran(quiet));
  EXPECT_FALSE(systems.changed(quiet));
  for (const auto id : {thrower, downstream, independent}) {
    EXPECT_FALSE(systems.ran(id)) << systems.name(id);
    EXPECT_FALSE(systems.changed(id)) << systems.name(id);
  }
}

TEST(Scheduler, EmptySchedulerRunsNothing) {
  keel::WorldBuilder wb = make_builder(0);
  keel::Scheduler systems = wb.install_driver(keel::SchedulerInstaller{});
  keel::World world = std::move(wb).build();
  EXPECT_EQ(systems.run(world), 0u);
  EXPECT_EQ(systems.size(), 0u);
}

TEST(Scheduler, KeepsWorkingAfterBeingMoved) {
  keel::WorldBuilder wb = make_builder(2);
  keel::SchedulerInstaller sched;
  const auto a = add_tracked(sched, 0);
  const auto b = add_tracked(sched, 1);
  sched.after(b, a);
  keel::SchedulerInstaller moved_installer = std::move(sched);
  keel::Scheduler first = wb.install_driver(std::move(moved_installer));
  keel::World world = std::move(wb).build();
  keel::Scheduler systems = std::move(first);
  EXPECT_EQ(run_pass(systems, world), 2u);
  EXPECT_TRUE(systems.ran(b));
}

// --- install time --------------------------------------------------------------------

TEST(Scheduler, ResolvesParametersOnceAtInstallNotPerRun) {
  keel::WorldBuilder wb = make_builder(0);
  keel::SchedulerInstaller sched;
  InitCounter::inits = 0;
  sched.add([](InitCounter, keel::ResMut<Log> log) { log->ran.push_back(0); });
  EXPECT_EQ(InitCounter::inits, 0);  // add() only stores the function
  keel::Scheduler systems = wb.install_driver(std::move(sched));
  EXPECT_EQ(InitCounter::inits, 1);
  keel::World world = std::move(wb).build();
  for (int i = 0; i < 4; ++i) systems.run(world);
  EXPECT_EQ(InitCounter::inits, 1);
  EXPECT_EQ(ran(world).size(), 4u);
}

TEST(Scheduler, MissingResourceIsAConfigErrorNamingTheResourceAndTheSystem) {
  keel::WorldBuilder wb = make_builder(0);
  keel::SchedulerInstaller sched;
  sched.add(unrelated_system);
  sched.add(needs_missing);
  const std::string message = config_error_message([&] { (void)wb.install_driver(std::move(sched)); });
  EXPECT_TRUE(Contains(message, "scheduler_test::Missing"));
  EXPECT_TRUE(Contains(message, "needs_missing"));
  EXPECT_FALSE(Contains(message, "unrelated_system"));
}

TEST(Scheduler, ResolvesAgainstWhatIsRegisteredWhenInstalled) {
  keel::WorldBuilder wb = make_builder(0);
  keel::SchedulerInstaller sched;
  sched.add(needs_late);
  // RegisteredLate is registered after the scheduler.
  const std::string message = config_error_message([&] { (void)wb.install_driver(std::move(sched)); });
  EXPECT_TRUE(Contains(message, "RegisteredLate"));
  EXPECT_TRUE(Contains(message, "needs_late"));
  EXPECT_TRUE(Contains(message, "install_driver()"));
  wb.insert(RegisteredLate{});
  keel::SchedulerInstaller again;
  again.add(needs_late);
  keel::Scheduler systems = wb.install_driver(std::move(again));
  keel::World world = std::move(wb).build();
  EXPECT_EQ(systems.run(world), 1u);
}

TEST(Scheduler, CycleIsAConfigErrorNamingTheSystemsInIt) {
  keel::WorldBuilder wb = make_builder(0);
  keel::SchedulerInstaller sched;
  sched.add(unrelated_system);
  const auto a = sched.add(cycle_a);
  const auto b = sched.add(cycle_b);
  const auto c = sched.add(cycle_c);
  const auto after = sched.add(downstream_of_cycle);
  sched.after(b, a).after(c, b).after(a, c).after(after, c);
  const std::string message = config_error_message([&] { (void)wb.install_driver(std::move(sched)); });
  EXPECT_TRUE(Contains(message, "cycle"));
  EXPECT_TRUE(Contains(message, "'cycle_a' -> 'cycle_b' -> 'cycle_c' -> 'cycle_a'"));
  EXPECT_FALSE(Contains(message, "unrelated_system"));
  EXPECT_FALSE(Contains(message, "downstream_of_cycle"));
}

// The search for a cycle starts at a system that cannot be ordered only
// because it is downstream of the cycle: it must not be named.
TEST(Scheduler, CycleMessageLeavesOutSystemsMerelyDownstreamOfIt) {
  keel::WorldBuilder wb = make_builder(0);
  keel::SchedulerInstaller sched;
  const auto after = sched.add(downstream_of_cycle);
  const auto c = sched.add(cycle_c);
  const auto b = sched.add(cycle_b);
  sched.after(after, c).after(b, c).after(c, b);
  const std::string message = config_error_message([&] { (void)wb.install_driver(std::move(sched)); });
  EXPECT_TRUE(Contains(message, "'cycle_c' -> 'cycle_b' -> 'cycle_c'"));
  EXPECT_FALSE(Contains(message, "downstream_of_cycle"));
}

TEST(Scheduler, SystemRunningAfterItselfIsACycle) {
  keel::WorldBuilder wb = make_builder(0);
  keel::SchedulerInstaller sched;
  const auto s = sched.add(self_loop);
  sched.after(s, s);
  const std::string message = config_error_message([&] { (void)wb.install_driver(std::move(sched)); });
  EXPECT_TRUE(Contains(message, "'self_loop' -> 'self_loop'"));
}

TEST(Scheduler, EdgeWithAnUnknownIdIsAConfigError) {
  keel::SchedulerInstaller sched;
  keel::SchedulerInstaller other;
  const auto mine = sched.add(cycle_a);
  const auto foreign = other.add(cycle_b);
  EXPECT_THROW(sched.after(mine, keel::SystemId{}), keel::ConfigError);
  EXPECT_THROW(sched.after(keel::SystemId{}, mine), keel::ConfigError);
  EXPECT_THROW(sched.after(mine, foreign), keel::ConfigError);
  EXPECT_THROW(sched.after(mine, {mine, foreign}), keel::ConfigError);
  EXPECT_TRUE(Contains(config_error_message([&] { sched.after(foreign, mine); }), "unknown downstream SystemId"));
  // None of the rejected edges was recorded: the self-edge attempt
  // (mine, {mine, foreign}) would otherwise be a cycle.
  keel::WorldBuilder wb = make_builder(0);
  keel::Scheduler systems = wb.install_driver(std::move(sched));
  EXPECT_EQ(systems.size(), 1u);
}

TEST(Scheduler, IdsFollowTheInstallerWhenItIsMoved) {
  keel::SchedulerInstaller sched;
  const auto a = sched.add(cycle_a);
  const auto b = sched.add(cycle_b);
  keel::SchedulerInstaller moved = std::move(sched);
  EXPECT_NO_THROW(moved.after(b, a));
  EXPECT_THROW(sched.after(b, a), keel::ConfigError);  // NOLINT(bugprone-use-after-move): moved-from is valid, empty
  EXPECT_EQ(sched.size(), 0u);
}

TEST(Scheduler, QueryWithAnotherInstallersIdIsAConfigError) {
  keel::WorldBuilder wb = make_builder(0);
  keel::SchedulerInstaller sched;
  keel::SchedulerInstaller other;
  sched.add(cycle_a);
  const auto foreign = other.add(cycle_b);
  keel::Scheduler systems = wb.install_driver(std::move(sched));
  EXPECT_THROW((void)systems.ran(foreign), keel::ConfigError);
  EXPECT_THROW((void)systems.name(keel::SystemId{}), keel::ConfigError);
}

// --- size ---------------------------------------------------------------------------

// 5,000 systems in one chain, added last-first: no cap, and the order comes
// from the edges alone.
TEST(Scheduler, RunsAChainOfFiveThousandSystems) {
  constexpr int kCount = 5000;
  keel::WorldBuilder wb = make_builder(kCount);
  keel::SchedulerInstaller sched;
  std::vector<keel::SystemId> id(kCount);
  for (int k = kCount - 1; k >= 0; --k) id[static_cast<std::size_t>(k)] = add_tracked(sched, k);
  for (int k = 1; k < kCount; ++k) sched.after(id[static_cast<std::size_t>(k)], id[static_cast<std::size_t>(k - 1)]);
  keel::Scheduler systems = wb.install_driver(std::move(sched));
  keel::World world = std::move(wb).build();

  EXPECT_EQ(systems.size(), static_cast<std::size_t>(kCount));
  EXPECT_EQ(run_pass(systems, world), static_cast<std::size_t>(kCount));
  std::vector<int> expected(kCount);
  for (int k = 0; k < kCount; ++k) expected[static_cast<std::size_t>(k)] = k;
  EXPECT_EQ(ran(world), expected);

  set_changed(world, 4000, false);
  EXPECT_EQ(run_pass(systems, world), 4001u);
}

// One root, 3,000 systems after it, one sink after all of them: the sink
// runs when any one of its 3,000 upstreams changed.
TEST(Scheduler, SinkWithThreeThousandUpstreamsRunsWhenAnyOfThemChanged) {
  constexpr int kLeaves = 3000;
  keel::WorldBuilder wb = make_builder(kLeaves + 2);
  keel::SchedulerInstaller sched;
  const auto root = add_tracked(sched, 0);
  std::vector<keel::SystemId> leaves;
  for (int k = 1; k <= kLeaves; ++k) leaves.push_back(add_tracked(sched, k));
  const auto sink = add_tracked(sched, kLeaves + 1);
  for (const auto leaf : leaves) sched.after(leaf, root).after(sink, leaf);
  keel::Scheduler systems = wb.install_driver(std::move(sched));
  keel::World world = std::move(wb).build();

  for (int k = 1; k <= kLeaves; ++k) set_changed(world, k, false);
  EXPECT_EQ(run_pass(systems, world), static_cast<std::size_t>(kLeaves + 1));
  EXPECT_FALSE(systems.ran(sink));

  set_changed(world, 2345, true);
  EXPECT_EQ(run_pass(systems, world), static_cast<std::size_t>(kLeaves + 2));
  EXPECT_TRUE(systems.ran(sink));
  EXPECT_EQ(ran(world).back(), kLeaves + 1);
}

}  // namespace
