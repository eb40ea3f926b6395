// Tests for rt/inline_handler.h: keel::InlineHandler<E, Bytes>.
#include "rt/inline_handler.h"

#include <gtest/gtest.h>

#include <exception>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "rt/handler.h"
#include "rt/handler_adapters.h"
#include "rt/param.h"
#include "rt/world.h"
#include "tests/rt/fixtures.h"
#include "tests/rt/tracking.h"

namespace inline_handler_test {

struct Log {
  std::vector<int> values;
};
struct Quote {
  int qty = 0;
};
struct TimerCtx {
  int id = 0;
  int fires = 0;
};

}  // namespace inline_handler_test

using inline_handler_test::Log;
using inline_handler_test::Quote;
using inline_handler_test::TimerCtx;
using keel_test::Counts;
using keel_test::Tracked;

void on_quote(keel::ResMut<Log> log, const Quote& q) { log->values.push_back(q.qty); }

namespace {

keel::World make_world() { return keel_test::world_with(Log{}); }

std::vector<int>& log_of(keel::World& world) { return world.resource<Log>().values; }

// A handler of int that logs `tag * 1000 + event` and owns a Tracked: in
// `counts`, `live` is the handlers holding it and `destroyed` the ones
// destroyed (moved-from shells count in neither).
auto tracked_handler(const keel::Registry& registry, Counts& counts, int tag) {
  return keel::handler(registry, [tracker = Tracked(counts), tag](keel::ResMut<Log> log, int e) {
    log->values.push_back(tag * 1000 + e);
  });
}

TEST(InlineHandler, RunsTheHeldHandler) {
  keel::World world = make_world();
  keel::InlineHandler<const Quote&> slot = keel::handler(world.registry(), on_quote);
  ASSERT_TRUE(slot);
  slot.run(world, Quote{.qty = 3});
  slot.run(world, Quote{.qty = 4});
  EXPECT_EQ(log_of(world), (std::vector<int>{3, 4}));
}

TEST(InlineHandler, NamesTheHeldHandler) {
  keel::World world = make_world();
  keel::InlineHandler<const Quote&> named = keel::handler(world.registry(), on_quote);
  EXPECT_EQ(named.name(), "on_quote");

  const int line = __LINE__ + 1;
  keel::InlineHandler<int> lambda = keel::handler(world.registry(), [](int) {});
  EXPECT_EQ(lambda.name(), "lambda at inline_handler_test.cc:" + std::to_string(line));
}

TEST(InlineHandler, DefaultConstructedIsEmpty) {
  keel::InlineHandler<int> slot;
  EXPECT_FALSE(slot);
  EXPECT_EQ(slot.name(), "<empty>");
  slot.reset();  // a no-op on an empty slot
  EXPECT_FALSE(slot);
}

TEST(InlineHandler, PassesConstReferenceEventWithoutCopying) {
  keel::World world = make_world();
  const Quote* seen = nullptr;
  keel::InlineHandler<const Quote&> slot = keel::handler(world.registry(), [&seen](const Quote& q) { seen = &q; });
  const Quote quote{.qty = 1};
  slot.run(world, quote);
  EXPECT_EQ(seen, &quote);
}

TEST(InlineHandler, MoveConstructionTransfersTheHandlerAndEmptiesTheSource) {
  keel::World world = make_world();
  Counts counts;
  keel::InlineHandler<int> source = tracked_handler(world.registry(), counts, 1);
  const std::string name(source.name());

  keel::InlineHandler<int> target(std::move(source));
  EXPECT_FALSE(source);  // NOLINT(bugprone-use-after-move): documented state
  EXPECT_EQ(source.name(), "<empty>");
  ASSERT_TRUE(target);
  EXPECT_EQ(target.name(), name);
  EXPECT_EQ(counts.live, 1);  // moved, not copied
  EXPECT_EQ(counts.destroyed, 0);

  target.run(world, 5);
  EXPECT_EQ(log_of(world), (std::vector<int>{1005}));
}

TEST(InlineHandler, MoveAssignmentTransfersTheHandlerAndDestroysTheTargetsOld) {
  keel::World world = make_world();
  Counts old_counts;
  Counts new_counts;
  keel::InlineHandler<int> target = tracked_handler(world.registry(), old_counts, 1);
  keel::InlineHandler<int> source = tracked_handler(world.registry(), new_counts, 2);

  target = std::move(source);
  EXPECT_FALSE(source);  // NOLINT(bugprone-use-after-move): documented state
  EXPECT_EQ(old_counts.destroyed, 1);
  EXPECT_EQ(old_counts.live, 0);
  EXPECT_EQ(new_counts.destroyed, 0);
  EXPECT_EQ(new_counts.live, 1);

  target.run(world, 7);
  EXPECT_EQ(log_of(world), (std::vector<int>{2007}));

  // Assigning an empty slot empties the target.
  target = keel::InlineHandler<int>();
  EXPECT_FALSE(target);
  EXPECT_EQ(new_counts.destroyed, 1);
  EXPECT_EQ(new_counts.live, 0);
}

TEST(InlineHandler, SelfMoveAssignmentKeepsTheHandler) {
  keel::World world = make_world();
  Counts counts;
  keel::InlineHandler<int> slot = tracked_handler(world.registry(), counts, 3);
  keel::InlineHandler<int>& alias = slot;
  slot = std::move(alias);
  ASSERT_TRUE(slot);
  EXPECT_EQ(counts.destroyed, 0);
  slot.run(world, 1);
  EXPECT_EQ(log_of(world), (std::vector<int>{3001}));
}

TEST(InlineHandler, DestroysTheHeldHandlerExactlyOnce) {
  keel::World world = make_world();
  Counts counts;
  {
    keel::InlineHandler<int> slot = tracked_handler(world.registry(), counts, 1);
    EXPECT_EQ(counts.live, 1);
    EXPECT_EQ(counts.destroyed, 0);  // the temporaries it came from were moved-from
    slot.run(world, 0);
  }
  EXPECT_EQ(counts.live, 0);
  EXPECT_EQ(counts.destroyed, 1);
}

TEST(InlineHandler, ResetDestroysTheHandlerAndEmptiesTheSlot) {
  keel::World world = make_world();
  Counts counts;
  {
    keel::InlineHandler<int> slot = tracked_handler(world.registry(), counts, 1);
    slot.reset();
    EXPECT_FALSE(slot);
    EXPECT_EQ(slot.name(), "<empty>");
    EXPECT_EQ(counts.destroyed, 1);
    slot.reset();
  }
  EXPECT_EQ(counts.destroyed, 1);  // not again at scope exit
  EXPECT_EQ(counts.live, 0);
}

TEST(InlineHandler, CanBeRefilledAfterReset) {
  keel::World world = make_world();
  keel::InlineHandler<const Quote&> slot = keel::handler(world.registry(), on_quote);
  slot.reset();
  slot = keel::handler(world.registry(), [](keel::ResMut<Log> log, const Quote& q) { log->values.push_back(-q.qty); });
  slot.run(world, Quote{.qty = 2});
  EXPECT_EQ(log_of(world), (std::vector<int>{-2}));
}

TEST(InlineHandler, GrowingVectorKeepsEveryHandlerWorking) {
  keel::World world = make_world();
  Counts counts;
  {
    std::vector<keel::InlineHandler<int>> table;
    constexpr int kCount = 100;  // several reallocations
    for (int i = 0; i < kCount; ++i) table.emplace_back(tracked_handler(world.registry(), counts, i));
    EXPECT_EQ(counts.live, kCount);
    EXPECT_EQ(counts.destroyed, 0);  // relocations move, they destroy no live handler

    for (auto& slot : table) slot.run(world, 1);
    std::vector<int> expected;
    for (int i = 0; i < kCount; ++i) expected.push_back(i * 1000 + 1);
    EXPECT_EQ(log_of(world), expected);

    table.erase(table.begin());  // shifts by move assignment
    EXPECT_EQ(counts.destroyed, 1);
    EXPECT_EQ(counts.live, kCount - 1);
    log_of(world).clear();
    table.front().run(world, 2);
    table.back().run(world, 2);
    EXPECT_EQ(log_of(world), (std::vector<int>{1002, 99002}));
  }
  EXPECT_EQ(counts.live, 0);
  EXPECT_EQ(counts.destroyed, 100);
}

TEST(InlineHandler, HoldsCallbacks) {
  keel::World world = make_world();
  keel::InlineHandler<int> slot = keel::callback(TimerCtx{.id = 9}, world.registry(),
                                                 [](TimerCtx& ctx, keel::ResMut<Log> log, int e) {
                                                   ++ctx.fires;
                                                   log->values.push_back(ctx.id * 10 + ctx.fires + e);
                                                 });
  slot.run(world, 0);
  slot.run(world, 0);
  EXPECT_EQ(log_of(world), (std::vector<int>{91, 92}));  // the context persists in the slot
}

TEST(InlineHandler, HoldsAdapters) {
  keel::World world = make_world();
  int errors = 0;
  keel::InlineHandler<int> safe =
      keel::catch_exceptions(keel::handler(world.registry(),
                                           [](keel::ResMut<Log> log, int e) {
                                             if (e < 0) throw std::exception();
                                             log->values.push_back(e);
                                           }),
                             [&errors](std::exception_ptr) { ++errors; });
  safe.run(world, -1);
  safe.run(world, 1);
  EXPECT_EQ(errors, 1);

  keel::InlineHandler<Quote> by_value = keel::by_ref(keel::handler(world.registry(), on_quote));
  by_value.run(world, Quote{.qty = 2});
  EXPECT_EQ(by_value.name(), "on_quote");

  keel::InlineHandler<const Quote&> by_cref =
      keel::cloned(keel::handler(world.registry(), [](keel::ResMut<Log> log, Quote q) { log->values.push_back(q.qty * 10); }));
  by_cref.run(world, Quote{.qty = 3});

  EXPECT_EQ(log_of(world), (std::vector<int>{1, 2, 30}));
}

TEST(InlineHandler, HoldsHandlersUpToItsCapacity) {
  keel::World world = make_world();
  struct Payload {
    char bytes[80];
  };
  Payload payload{};
  payload.bytes[79] = 42;
  keel::InlineHandler<int, 128> big = keel::handler(world.registry(), [payload](keel::ResMut<Log> log, int) {
    log->values.push_back(payload.bytes[79]);
  });
  big.run(world, 0);
  EXPECT_EQ(log_of(world), (std::vector<int>{42}));
}

}  // namespace
