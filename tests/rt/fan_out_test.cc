// Tests for rt/fan_out.h: keel::fan_out() and keel::Broadcast<E>.
#include "rt/fan_out.h"

#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "rt/error.h"
#include "rt/handler.h"
#include "rt/param.h"
#include "rt/world.h"

namespace fan_out_test {

// Which handler saw which event, in order.
struct Log {
  std::vector<std::string> lines;
};

// An event that counts its copies (moves are free and not counted).
struct Quote {
  explicit Quote(int qty) : qty(qty) {}
  Quote(const Quote& other) : qty(other.qty), copies(other.copies) { ++*copies; }
  Quote(Quote&& other) noexcept : qty(other.qty), copies(other.copies) {}  // not counted
  Quote& operator=(const Quote&) = delete;
  int qty;
  std::shared_ptr<int> copies = std::make_shared<int>(0);
};

}  // namespace fan_out_test

using fan_out_test::Log;
using fan_out_test::Quote;

// Named from the binary's symbol table.
void log_first(keel::ResMut<Log> log, const Quote& q) { log->lines.push_back("first " + std::to_string(q.qty)); }
void log_second(keel::ResMut<Log> log, const Quote& q) { log->lines.push_back("second " + std::to_string(q.qty)); }
void keep_by_value(keel::ResMut<Log> log, Quote q) { log->lines.push_back("by value " + std::to_string(q.qty)); }

namespace {

keel::World make_world() {
  keel::WorldBuilder wb;
  wb.insert(Log{});
  return std::move(wb).build();
}

// Captured by a handler: counts its destruction (moved-from copies do not count).
struct CountsDestruction {
  explicit CountsDestruction(std::shared_ptr<int> c) : counter(std::move(c)) {}
  CountsDestruction(CountsDestruction&& other) noexcept : counter(std::move(other.counter)) {}
  ~CountsDestruction() {
    if (counter) ++*counter;
  }
  std::shared_ptr<int> counter;
};

std::vector<std::string>& lines(keel::World& world) { return world.resource<Log>().lines; }

// A handler that logs `label` with the event's quantity.
auto labelled(const keel::Registry& reg, std::string label) {
  return keel::handler(reg, [label = std::move(label)](keel::ResMut<Log> log, const Quote& q) {
    log->lines.push_back(label + " " + std::to_string(q.qty));
  });
}

// --- fan_out ---------------------------------------------------------------------

TEST(FanOut, RunsEachHandlerOncePerEventInTheOrderGiven) {
  keel::World world = make_world();
  auto both = keel::fan_out(keel::handler(world.registry(), log_second), keel::handler(world.registry(), log_first),
                            labelled(world.registry(), "third"));
  both.run(world, Quote(5));
  both.run(world, Quote(6));
  EXPECT_EQ(lines(world),
            (std::vector<std::string>{"second 5", "first 5", "third 5", "second 6", "first 6", "third 6"}));
}

TEST(FanOut, HandsEveryHandlerTheSameEventWithoutCopying) {
  keel::World world = make_world();
  std::vector<const Quote*> seen;
  auto record = [&seen](const Quote& q) { seen.push_back(&q); };
  auto all = keel::fan_out(keel::handler(world.registry(), record), keel::handler(world.registry(), record),
                           keel::handler(world.registry(), record));
  const Quote quote(1);
  all.run(world, quote);
  EXPECT_EQ(seen, (std::vector<const Quote*>{&quote, &quote, &quote}));
  EXPECT_EQ(*quote.copies, 0);
}

TEST(FanOut, ByValueHandlerJoinsThroughClonedAndGetsItsOwnCopy) {
  keel::World world = make_world();
  auto all = keel::fan_out(keel::handler(world.registry(), log_first),
                           keel::cloned(keel::handler(world.registry(), keep_by_value)));
  const Quote quote(3);
  all.run(world, quote);
  EXPECT_EQ(lines(world), (std::vector<std::string>{"first 3", "by value 3"}));
  EXPECT_EQ(*quote.copies, 1);
}

TEST(FanOut, AcceptsBoxedHandlersAndOtherFanOuts) {
  keel::World world = make_world();
  std::unique_ptr<keel::Handler<const Quote&>> boxed = keel::boxed(keel::handler(world.registry(), log_second));
  auto inner = keel::fan_out(labelled(world.registry(), "inner a"), labelled(world.registry(), "inner b"));
  auto outer = keel::fan_out(keel::handler(world.registry(), log_first), std::move(boxed), std::move(inner));
  outer.run(world, Quote(2));
  EXPECT_EQ(lines(world), (std::vector<std::string>{"first 2", "second 2", "inner a 2", "inner b 2"}));
}

TEST(FanOut, EmptyBoxedHandlerIsAConfigError) {
  keel::World world = make_world();
  std::unique_ptr<keel::Handler<const Quote&>> empty;
  EXPECT_THROW((void)keel::fan_out(keel::handler(world.registry(), log_first), std::move(empty)), keel::ConfigError);
}

TEST(FanOut, IsAHandlerOfConstEventThatCanBeBoxed) {
  keel::World world = make_world();
  auto both = keel::fan_out(keel::handler(world.registry(), log_first), keel::handler(world.registry(), log_second));
  static_assert(keel::HandlerLike<decltype(both)>);
  static_assert(std::is_same_v<decltype(both)::event_type, const Quote&>);
  EXPECT_EQ(both.name(), "fan_out(log_first, log_second)");
  std::unique_ptr<keel::Handler<const Quote&>> any = keel::boxed(std::move(both));
  any->run(world, Quote(4));
  EXPECT_EQ(lines(world), (std::vector<std::string>{"first 4", "second 4"}));
  EXPECT_EQ(any->name(), "fan_out(log_first, log_second)");
}

TEST(FanOut, ExceptionStopsTheRemainingHandlersForThatEventOnly) {
  keel::World world = make_world();
  auto all = keel::fan_out(keel::handler(world.registry(), log_first),
                           keel::handler(world.registry(),
                                         [](const Quote& q) {
                                           if (q.qty < 0) throw std::runtime_error("negative");
                                         }),
                           keel::handler(world.registry(), log_second));
  EXPECT_THROW(all.run(world, Quote(-1)), std::runtime_error);
  all.run(world, Quote(1));
  EXPECT_EQ(lines(world), (std::vector<std::string>{"first -1", "first 1", "second 1"}));
}

TEST(FanOut, MembersAreReachableByPosition) {
  keel::World world = make_world();
  auto both = keel::fan_out(keel::handler(world.registry(), log_first), keel::handler(world.registry(), log_second));
  static_assert(decltype(both)::size() == 2);
  EXPECT_EQ(both.handler<1>().name(), "log_second");
}

// --- Broadcast ------------------------------------------------------------------

TEST(Broadcast, RunsEveryHandlerOncePerEventInAddOrder) {
  keel::World world = make_world();
  keel::Broadcast<Quote> subscribers;
  subscribers.add(keel::handler(world.registry(), log_second));
  subscribers.add(keel::handler(world.registry(), log_first));
  subscribers.add(labelled(world.registry(), "third"));
  EXPECT_EQ(subscribers.size(), 3u);
  subscribers.run(world, Quote(7));
  subscribers.run(world, Quote(8));
  EXPECT_EQ(lines(world),
            (std::vector<std::string>{"second 7", "first 7", "third 7", "second 8", "first 8", "third 8"}));
}

TEST(Broadcast, RemovedHandlerNoLongerRunsAndTheOthersKeepTheirOrder) {
  keel::World world = make_world();
  keel::Broadcast<Quote> subscribers;
  const auto a = subscribers.add(labelled(world.registry(), "a"));
  const auto b = subscribers.add(labelled(world.registry(), "b"));
  const auto c = subscribers.add(labelled(world.registry(), "c"));
  EXPECT_TRUE(subscribers.remove(b));
  EXPECT_EQ(subscribers.size(), 2u);
  EXPECT_FALSE(subscribers.contains(b));
  EXPECT_TRUE(subscribers.contains(a));
  subscribers.add(labelled(world.registry(), "d"));
  subscribers.run(world, Quote(1));
  EXPECT_EQ(lines(world), (std::vector<std::string>{"a 1", "c 1", "d 1"}));
  EXPECT_TRUE(subscribers.remove(a));
  EXPECT_TRUE(subscribers.remove(c));
  lines(world).clear();
  subscribers.run(world, Quote(2));
  EXPECT_EQ(lines(world), (std::vector<std::string>{"d 2"}));
}

TEST(Broadcast, RemovingTwiceOrWithAForeignTokenReturnsFalse) {
  keel::World world = make_world();
  keel::Broadcast<Quote> mine;
  keel::Broadcast<Quote> other;
  const auto a = mine.add(labelled(world.registry(), "a"));
  const auto foreign = other.add(labelled(world.registry(), "foreign"));
  EXPECT_FALSE(mine.remove(foreign));
  EXPECT_FALSE(mine.remove(keel::BroadcastToken{}));
  EXPECT_TRUE(mine.remove(a));
  EXPECT_FALSE(mine.remove(a));
  EXPECT_TRUE(mine.empty());
  EXPECT_EQ(other.size(), 1u);
}

TEST(Broadcast, AcceptsBoxedAndClonedHandlers) {
  keel::World world = make_world();
  keel::Broadcast<Quote> subscribers;
  subscribers.add(keel::boxed(keel::handler(world.registry(), log_first)));
  subscribers.add(keel::cloned(keel::handler(world.registry(), keep_by_value)));
  const Quote quote(9);
  subscribers.run(world, quote);
  EXPECT_EQ(lines(world), (std::vector<std::string>{"first 9", "by value 9"}));
  EXPECT_EQ(*quote.copies, 1);
  EXPECT_THROW(subscribers.add(std::unique_ptr<keel::Handler<const Quote&>>()), keel::ConfigError);
  EXPECT_EQ(subscribers.size(), 2u);
}

TEST(Broadcast, IsAHandlerOfConstEventThatCanBeBoxedAndNested) {
  keel::World world = make_world();
  keel::Broadcast<Quote> subscribers("quote subscribers");
  subscribers.add(keel::handler(world.registry(), log_first));
  static_assert(keel::HandlerLike<keel::Broadcast<Quote>>);
  EXPECT_EQ(subscribers.name(), "quote subscribers");
  auto all = keel::fan_out(std::move(subscribers), keel::handler(world.registry(), log_second));
  EXPECT_EQ(all.name(), "fan_out(quote subscribers, log_second)");
  std::unique_ptr<keel::Handler<const Quote&>> any = keel::boxed(std::move(all));
  any->run(world, Quote(3));
  EXPECT_EQ(lines(world), (std::vector<std::string>{"first 3", "second 3"}));
}

TEST(Broadcast, DefaultNameIsItsType) {
  keel::Broadcast<Quote> subscribers;
  EXPECT_EQ(subscribers.name(), "keel::Broadcast<fan_out_test::Quote>");
}

// A handler that removes itself while the Broadcast runs: it finishes its
// call, the handlers after it still run for this event, and it never runs
// again.
TEST(Broadcast, HandlerRemovingItselfDuringRunFinishesAndNeverRunsAgain) {
  keel::World world = make_world();
  keel::Broadcast<Quote> subscribers;
  keel::BroadcastToken self;
  auto destroyed = std::make_shared<int>(0);
  auto remove_self = [&subscribers, &self, guard = CountsDestruction{destroyed}](keel::ResMut<Log> log,
                                                                                 const Quote& q) {
    EXPECT_TRUE(subscribers.remove(self));
    EXPECT_EQ(*guard.counter, 0);  // still alive while it runs
    log->lines.push_back("once " + std::to_string(q.qty));
  };
  self = subscribers.add(keel::handler(world.registry(), std::move(remove_self)));
  subscribers.add(labelled(world.registry(), "after"));
  subscribers.run(world, Quote(1));
  EXPECT_EQ(subscribers.size(), 1u);
  EXPECT_FALSE(subscribers.contains(self));
  subscribers.run(world, Quote(2));
  EXPECT_EQ(lines(world), (std::vector<std::string>{"once 1", "after 1", "after 2"}));
  EXPECT_EQ(*destroyed, 1);  // destroyed once run() returned
  EXPECT_FALSE(subscribers.remove(self));
}

TEST(Broadcast, HandlerRemovingALaterOneDuringRunSkipsIt) {
  keel::World world = make_world();
  keel::Broadcast<Quote> subscribers;
  keel::BroadcastToken later;
  subscribers.add(keel::handler(world.registry(), [&](keel::ResMut<Log> log, const Quote&) {
    log->lines.push_back(subscribers.remove(later) ? "removed" : "not found");
  }));
  later = subscribers.add(labelled(world.registry(), "later"));
  subscribers.run(world, Quote(1));
  EXPECT_EQ(lines(world), (std::vector<std::string>{"removed"}));
}

TEST(Broadcast, HandlerAddedDuringRunFirstRunsOnTheNextEvent) {
  keel::World world = make_world();
  keel::Broadcast<Quote> subscribers;
  int adds = 0;
  subscribers.add(keel::handler(world.registry(), [&](const Quote&) {
    // Enough adds to force the entries to reallocate under the running loop.
    if (adds++ == 0)
      for (int i = 0; i < 64; ++i) subscribers.add(labelled(world.registry(), "added"));
  }));
  subscribers.run(world, Quote(1));
  EXPECT_TRUE(lines(world).empty());
  subscribers.run(world, Quote(2));
  EXPECT_EQ(lines(world).size(), 64u);
  EXPECT_EQ(subscribers.size(), 65u);
}

TEST(Broadcast, ExceptionFromAHandlerStillAppliesDeferredRemovals) {
  keel::World world = make_world();
  keel::Broadcast<Quote> subscribers;
  keel::BroadcastToken self;
  auto destroyed = std::make_shared<int>(0);
  self = subscribers.add(keel::handler(world.registry(), [&, guard = CountsDestruction{destroyed}](const Quote&) {
    subscribers.remove(self);
    throw std::runtime_error("fails after removing itself");
  }));
  subscribers.add(labelled(world.registry(), "after"));
  EXPECT_THROW(subscribers.run(world, Quote(1)), std::runtime_error);
  EXPECT_EQ(*destroyed, 1);  // the removal was applied while the exception left run()
  EXPECT_EQ(subscribers.size(), 1u);
  subscribers.run(world, Quote(2));
  EXPECT_EQ(lines(world), (std::vector<std::string>{"after 2"}));
}

TEST(Broadcast, EmptyBroadcastRunsNothing) {
  keel::World world = make_world();
  keel::Broadcast<Quote> subscribers;
  subscribers.run(world, Quote(1));
  EXPECT_TRUE(subscribers.empty());
  EXPECT_TRUE(lines(world).empty());
}

}  // namespace
