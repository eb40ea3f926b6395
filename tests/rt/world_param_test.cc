// keel::World& as the first parameter of handlers, callbacks, pipeline
// steps, systems, reactors, timer callbacks and startup functions: the
// function gets the World it runs on, beside Local<T> and Seq. Taking it
// with Res/ResMut/Opt does not compile (tests/compile_fail/world_*).

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "rt/callback.h"
#include "rt/handler.h"
#include "rt/pipeline.h"
#include "rt/reactor.h"
#include "rt/system.h"
#include "rt/testing.h"
#include "rt/timer.h"
#include "rt/world.h"
#include "tests/rt/fixtures.h"

namespace world_param_test {
struct Book {
  int qty = 0;
};
struct Journal {
  std::vector<std::uint64_t> sequences;
};
}  // namespace world_param_test

namespace {

using world_param_test::Book;
using world_param_test::Journal;

keel::World make_world() { return keel_test::world_with(Book{}, Journal{}); }

// Reaches two resources through the World, and counts its own calls.
void book_and_journal(keel::World& world, keel::Local<int> calls, keel::Seq seq, int qty) {
  world.resource<Book>().qty += qty;
  world.resource<Journal>().sequences.push_back(seq.value());
  ++*calls;
}

TEST(WorldParam, HandlerGetsTheWorldItRunsOnBesideLocalAndSeq) {
  keel::World world = make_world();
  auto handler = keel::handler(world.registry(), book_and_journal);
  world.next_sequence();
  handler.run(world, 2);
  world.next_sequence();
  handler.run(world, 3);
  EXPECT_EQ(world.resource<Book>().qty, 5);
  EXPECT_EQ(world.resource<Journal>().sequences, (std::vector<std::uint64_t>{1, 2}));
}

TEST(WorldParam, HandlerCanBuildAndRunAnotherHandlerWhileRunning) {
  keel::World world = make_world();
  auto outer = keel::handler(world.registry(), [](keel::World& w, int qty) {
    auto inner = keel::handler(w.registry(), [](keel::ResMut<Book> book, int q) { book->qty += q; });
    inner.run(w, qty * 10);
  });
  outer.run(world, 4);
  EXPECT_EQ(world.resource<Book>().qty, 40);
}

TEST(WorldParam, HandlerAfterAMoveGetsTheDestinationWorld) {
  keel::World source = make_world();
  keel::World* seen = nullptr;
  auto handler = keel::handler(source.registry(), [&seen](keel::World& w, int) { seen = &w; });
  keel::World destination(std::move(source));
  handler.run(destination, 0);
  EXPECT_EQ(seen, &destination);
}

struct Ctx {
  int fired = 0;
};

TEST(WorldParam, CallbackTakesTheWorldAfterItsContext) {
  keel::World world = make_world();
  auto cb = keel::callback(Ctx{}, world.registry(), [](Ctx& ctx, keel::World& w, int qty) {
    ++ctx.fired;
    w.resource<Book>().qty += qty;
  });
  cb.run(world, 7);
  EXPECT_EQ(cb.ctx().fired, 1);
  EXPECT_EQ(world.resource<Book>().qty, 7);
}

TEST(WorldParam, PipelineStepTakesTheWorldBeforeItsInput) {
  keel::World world = make_world();
  auto p = keel::pipeline<int>(world.registry())
               .then([](keel::World& w, int qty) { return qty + static_cast<int>(w.sequence()); })
               .then([](keel::World& w, int total) { w.resource<Book>().qty = total; })
               .build();
  world.next_sequence();
  world.next_sequence();
  p.run(world, 10);
  EXPECT_EQ(world.resource<Book>().qty, 12);
}

TEST(WorldParam, SystemTakesTheWorld) {
  keel::World world = make_world();
  auto s = keel::system(world.registry(), [](keel::World& w, keel::Local<int> runs) {
    w.resource<Book>().qty = ++*runs;
    return *runs % 2 == 1;
  });
  EXPECT_TRUE(s.run(world));
  EXPECT_FALSE(s.run(world));
  EXPECT_EQ(world.resource<Book>().qty, 2);
}

TEST(WorldParam, ReactorTakesTheWorldAfterItsContext) {
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::DataSource source = rx.register_source();
  rx.spawn(Ctx{}, world.registry(), [](Ctx& ctx, keel::World& w) {
      ++ctx.fired;
      w.resource<Book>().qty += 100;
    }).subscribe(source);
  rx.mark(source);
  EXPECT_EQ(world.dispatch_reactors(), 1u);
  EXPECT_EQ(world.resource<Book>().qty, 100);
}

TEST(WorldParam, TimerHandlerTakesTheWorld) {
  keel::testing::VirtualClock clock;
  keel::WorldBuilder wb;
  wb.emplace<Book>();
  auto timers = wb.install_driver(keel::TimerInstaller{});
  keel::World world = std::move(wb).build();
  auto& wheel = world.resource<keel::TimerWheel>();
  wheel.schedule(clock.now() + std::chrono::milliseconds(5),
                 keel::handler(world.registry(), [](keel::World& w, keel::Instant) { w.resource<Book>().qty = 9; }));
  clock.advance(std::chrono::milliseconds(5));
  EXPECT_EQ(timers.poll(world, clock.now()), 1u);
  EXPECT_EQ(world.resource<Book>().qty, 9);
}

TEST(WorldParam, StartupFunctionTakesTheWorld) {
  keel::World world = make_world();
  const int qty = world.run_startup([](keel::World& w, keel::Local<int> local) {
    *local = 6;
    w.resource<Book>().qty = *local;
    return *local;
  });
  EXPECT_EQ(qty, 6);
  EXPECT_EQ(world.resource<Book>().qty, 6);
}

}  // namespace
