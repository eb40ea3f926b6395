// Testing a handler with keel::testing::TestHarness: no drivers, no loop —
// build a World, build the handler, dispatch events, look at the resources.
//
//   bazel test //examples:first_handler_test
//
// Walked through in docs/getting-started.md. In a real project the handler
// and the function that builds its World live in a library that both the
// program and the test depend on.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "rt/handler.h"
#include "rt/testing.h"

struct Position {
  long qty = 0;
  std::uint64_t last_seq = 0;
};
struct Limits {
  long max_qty = 0;
};
struct Fill {
  long qty;
};

void on_fill(keel::ResMut<Position> pos, keel::Res<Limits> lim, keel::Seq seq, const Fill& f) {
  if (pos->qty + f.qty > lim->max_qty) return;
  pos->qty += f.qty;
  pos->last_seq = seq;
}

keel::WorldBuilder trading_world(long max_qty) {
  keel::WorldBuilder wb;
  wb.emplace<Position>();
  wb.insert(Limits{.max_qty = max_qty});
  return wb;
}

TEST(OnFill, AddsFillsUpToTheLimit) {
  keel::testing::TestHarness harness(trading_world(50));
  auto h = keel::handler(harness.registry(), on_fill);

  harness.dispatch(h, Fill{20});  // sequence 1
  harness.dispatch(h, Fill{20});  // sequence 2
  harness.dispatch(h, Fill{20});  // sequence 3: would exceed 50, ignored

  const Position& pos = harness.world().resource<Position>();
  EXPECT_EQ(pos.qty, 40);
  EXPECT_EQ(pos.last_seq, 2u);
  EXPECT_EQ(harness.world().sequence(), 3u);
}

TEST(OnFill, IsNamedAfterItsFunction) {
  keel::testing::TestHarness harness(trading_world(50));
  EXPECT_EQ(keel::handler(harness.registry(), on_fill).name(), "on_fill");
}

TEST(OnFill, CannotBeBuiltWithoutItsLimits) {
  keel::WorldBuilder wb;
  wb.emplace<Position>();
  keel::testing::TestHarness harness(std::move(wb));
  try {
    static_cast<void>(keel::handler(harness.registry(), on_fill));
    FAIL() << "expected a ConfigError";
  } catch (const keel::ConfigError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("'on_fill'"), std::string::npos) << message;
    EXPECT_NE(message.find("'Limits'"), std::string::npos) << message;
  }
}

TEST(FillCounter, KeepsItsCountInALocal) {
  keel::testing::TestHarness harness(trading_world(50));
  long last_count = 0;
  auto counter =
      keel::handler(harness.registry(), [&last_count](keel::Local<long> count, const Fill&) { last_count = ++*count; });

  harness.dispatch(counter, Fill{1});
  harness.dispatch(counter, Fill{1});

  EXPECT_EQ(last_count, 2);
}
