// Tests for keel::BatchPipeline (rt/pipeline.h, build_batch(capacity)): the
// owned input buffer, per-item independence, and no allocation per run.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>
#include <expected>
#include <functional>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rt/error.h"
#include "rt/param.h"
#include "rt/pipeline.h"
#include "rt/world.h"
#include "tests/rt/fixtures.h"
#include "tests/rt/tracking.h"

namespace batch_pipeline_test {

struct RawMsg {
  int px = 0;   // <= 0: cannot be decoded
  int qty = 0;  // above Limits::max_qty: rejected
};
struct Order {
  int px = 0;
  int qty = 0;
  friend bool operator==(const Order&, const Order&) = default;
};
enum class Reject { kOverLimit };

struct Limits {
  int max_qty = 100;
};
struct Outcomes {
  int undecodable = 0;
  int rejected = 0;
  std::vector<Order> sent;
};

std::optional<RawMsg> decode(keel::ResMut<Outcomes> out, const RawMsg& m) {
  if (m.px <= 0) {
    ++out->undecodable;
    return std::nullopt;
  }
  return m;
}
std::expected<Order, Reject> check_risk(keel::Res<Limits> lim, const RawMsg& m) {
  if (m.qty > lim->max_qty) return std::unexpected(Reject::kOverLimit);
  return Order{.px = m.px, .qty = m.qty};
}
void log_reject(keel::ResMut<Outcomes> out, Reject) { ++out->rejected; }
void send(keel::ResMut<Outcomes> out, Order o) { out->sent.push_back(o); }

}  // namespace batch_pipeline_test

using batch_pipeline_test::Limits;
using batch_pipeline_test::Order;
using batch_pipeline_test::Outcomes;
using batch_pipeline_test::RawMsg;
using keel_test::config_error_message;
using keel_test::Contains;
using keel_test::Counts;
using keel_test::Tracked;

namespace {

keel::World make_world(int max_qty = 100) {
  keel::WorldBuilder wb;
  wb.insert(Limits{.max_qty = max_qty});
  wb.insert(Outcomes{});
  return std::move(wb).build();
}

// decode -> check_risk -> log_reject -> send, as a batch of `capacity`.
auto order_batch(const keel::Registry& registry, std::size_t capacity) {
  using namespace batch_pipeline_test;
  return keel::pipeline<RawMsg>(registry)
      .then(decode)
      .map(check_risk)
      .on_error(log_reject)
      .map(send)
      .build_batch(capacity);
}

TEST(BatchPipeline, PushReturnsFalseOnceTheBufferIsFull) {
  keel::World world = make_world();
  auto batch = order_batch(world.registry(), 4);
  EXPECT_EQ(batch.capacity(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(batch.push(RawMsg{.px = i + 1, .qty = 1})) << "item " << i;
  EXPECT_FALSE(batch.push(RawMsg{.px = 99, .qty = 1}));
  EXPECT_EQ(batch.size(), 4u);
  EXPECT_EQ(batch.capacity(), 4u);

  EXPECT_EQ(batch.run(world), 4u);
  // The refused item was never buffered.
  EXPECT_EQ(world.resource<Outcomes>().sent.size(), 4u);
  EXPECT_EQ(world.resource<Outcomes>().sent.back(), (Order{.px = 4, .qty = 1}));
}

// A refused push() does not take its item: push() takes const T& and T&&,
// and moves or copies only after the capacity check, so push(std::move(x))
// on a full buffer leaves x as it was. (Taking T by value would move x into
// the parameter before the check.)
TEST(BatchPipeline, PushOnAFullBufferLeavesTheItemWithTheCaller) {
  keel::World world = make_world();
  Counts counts;
  auto batch = keel::pipeline<Tracked>(world.registry()).then([](Tracked) {}).build_batch(1);
  EXPECT_TRUE(batch.push(Tracked(counts, 1)));
  Tracked refused(counts, 2);
  EXPECT_FALSE(batch.push(std::move(refused)));
  EXPECT_FALSE(refused.moved_from());
  EXPECT_EQ(refused.value, 2);
  const Tracked also_refused(counts, 3);
  const int copies_before = counts.copies;
  EXPECT_FALSE(batch.push(also_refused));
  EXPECT_EQ(counts.copies, copies_before);
}

TEST(BatchPipeline, EachItemRunsIndependentlyOfTheOthersErrorsAndNones) {
  keel::World world = make_world(/*max_qty=*/10);
  auto batch = order_batch(world.registry(), 8);
  batch.push(RawMsg{.px = 1, .qty = 5});    // sent
  batch.push(RawMsg{.px = 0, .qty = 5});    // undecodable
  batch.push(RawMsg{.px = 2, .qty = 50});   // rejected
  batch.push(RawMsg{.px = 3, .qty = 10});   // sent
  batch.push(RawMsg{.px = -1, .qty = 1});   // undecodable
  batch.push(RawMsg{.px = 4, .qty = 11});   // rejected
  batch.push(RawMsg{.px = 5, .qty = 1});    // sent

  EXPECT_EQ(batch.run(world), 7u);
  const Outcomes& out = world.resource<Outcomes>();
  EXPECT_EQ(out.undecodable, 2);
  EXPECT_EQ(out.rejected, 2);
  EXPECT_EQ(out.sent, (std::vector<Order>{{1, 5}, {3, 10}, {5, 1}}));  // in push order
}

TEST(BatchPipeline, RunClearsTheBufferAndKeepsItsCapacity) {
  keel::World world = make_world();
  auto batch = order_batch(world.registry(), 16);
  for (int i = 1; i <= 10; ++i) batch.push(RawMsg{.px = i, .qty = 1});
  batch.run(world);
  EXPECT_EQ(batch.size(), 0u);
  EXPECT_EQ(batch.capacity(), 16u);
  // And it fills to capacity again.
  for (int i = 1; i <= 16; ++i) EXPECT_TRUE(batch.push(RawMsg{.px = i, .qty = 1}));
  EXPECT_FALSE(batch.push(RawMsg{.px = 17, .qty = 1}));
}

TEST(BatchPipeline, RunOnAnEmptyBufferDoesNothing) {
  keel::World world = make_world();
  auto batch = order_batch(world.registry(), 4);
  EXPECT_EQ(batch.run(world), 0u);
  EXPECT_TRUE(world.resource<Outcomes>().sent.empty());
}

TEST(BatchPipeline, FillAddsGeneratedItemsUpToTheSpareCapacityAndSaysHowMany) {
  keel::World world = make_world();
  auto batch = order_batch(world.registry(), 5);
  batch.push(RawMsg{.px = 1, .qty = 1});
  const std::vector<RawMsg> received{{2, 1}, {0, 1}, {3, 3}, {4, 4}, {5, 5}, {6, 6}};
  std::vector<std::size_t> asked;
  const std::size_t added = batch.fill(received.size(), [&](std::size_t k) {
    asked.push_back(k);
    return received[k];
  });
  EXPECT_EQ(added, 4u);  // one slot was taken; the generator is not asked past the capacity
  EXPECT_EQ(asked, (std::vector<std::size_t>{0, 1, 2, 3}));
  EXPECT_EQ(batch.size(), 5u);
  EXPECT_EQ(batch.fill(1, [&](std::size_t) { return RawMsg{.px = 9, .qty = 9}; }), 0u);
  EXPECT_EQ(batch.run(world), 5u);
  EXPECT_EQ(world.resource<Outcomes>().sent, (std::vector<Order>{{1, 1}, {2, 1}, {3, 3}, {4, 4}}));
  EXPECT_EQ(world.resource<Outcomes>().undecodable, 1);
}

TEST(BatchPipeline, FillKeepsTheItemsMadeBeforeTheGeneratorThrew) {
  keel::World world = make_world();
  auto batch = order_batch(world.registry(), 8);
  EXPECT_THROW(batch.fill(5,
                          [](std::size_t k) {
                            if (k == 3) throw std::runtime_error("truncated datagram");
                            return RawMsg{.px = static_cast<int>(k) + 1, .qty = 1};
                          }),
               std::runtime_error);
  EXPECT_EQ(batch.size(), 3u);
  EXPECT_EQ(batch.run(world), 3u);
  EXPECT_EQ(world.resource<Outcomes>().sent, (std::vector<Order>{{1, 1}, {2, 1}, {3, 1}}));
}

TEST(BatchPipeline, BytesWrittenIntoUnfilledSlotsBecomeItemsOnCommit) {
  keel::World world = make_world();
  auto batch = order_batch(world.registry(), 4);
  batch.push(RawMsg{.px = 1, .qty = 1});
  std::span<RawMsg> slots = batch.unfilled();
  ASSERT_EQ(slots.size(), 3u);
  EXPECT_EQ(slots.data(), batch.items().data() + 1);
  const RawMsg wire[2] = {{7, 2}, {8, 3}};  // as a recvmmsg or memcpy would leave them
  std::memcpy(static_cast<void*>(slots.data()), wire, sizeof wire);
  batch.commit(2);
  EXPECT_EQ(batch.size(), 3u);
  EXPECT_EQ(batch.run(world), 3u);
  EXPECT_EQ(world.resource<Outcomes>().sent, (std::vector<Order>{{1, 1}, {7, 2}, {8, 3}}));
}

TEST(BatchPipeline, CommitCountsNoMoreThanTheSpareSlots) {
  keel::World world = make_world();
  auto batch = order_batch(world.registry(), 2);
  for (RawMsg& slot : batch.unfilled()) slot = RawMsg{.px = 5, .qty = 1};
  batch.commit(10);
  EXPECT_EQ(batch.size(), 2u);
  EXPECT_TRUE(batch.unfilled().empty());
  EXPECT_FALSE(batch.push(RawMsg{.px = 6, .qty = 1}));
}

TEST(BatchPipeline, EmplaceConstructsTheItemInTheBuffer) {
  keel::World world = make_world();
  Counts counts;
  std::vector<int> seen;
  auto batch = keel::pipeline<const Tracked&>(world.registry())
                   .then([&](const Tracked& t) { seen.push_back(t.value); })
                   .build_batch(1);
  EXPECT_TRUE(batch.emplace(counts, 7));
  EXPECT_FALSE(batch.emplace(counts, 8));
  EXPECT_EQ(counts.copies + counts.moves, 0);
  batch.run(world);
  EXPECT_EQ(seen, (std::vector<int>{7}));
}

TEST(BatchPipeline, RunningTwiceProcessesEachBatchOnce) {
  keel::World world = make_world();
  auto batch = order_batch(world.registry(), 4);
  batch.push(RawMsg{.px = 1, .qty = 1});
  batch.push(RawMsg{.px = 2, .qty = 1});
  EXPECT_EQ(batch.run(world), 2u);
  batch.push(RawMsg{.px = 3, .qty = 1});
  EXPECT_EQ(batch.run(world), 1u);
  EXPECT_EQ(batch.run(world), 0u);
  EXPECT_EQ(world.resource<Outcomes>().sent, (std::vector<Order>{{1, 1}, {2, 1}, {3, 1}}));
}

TEST(BatchPipeline, RunsWithoutReallocatingItsBuffer) {
  keel::World world = make_world();
  auto batch = order_batch(world.registry(), 32);
  const RawMsg* const buffer = batch.items().data();
  for (int round = 0; round < 5; ++round) {
    for (int i = 0; i < 32; ++i) ASSERT_TRUE(batch.push(RawMsg{.px = i + 1, .qty = 1}));
    EXPECT_EQ(batch.run(world), 32u);
    EXPECT_EQ(batch.items().data(), buffer) << "round " << round;
    EXPECT_EQ(batch.capacity(), 32u) << "round " << round;
  }
  EXPECT_EQ(world.resource<Outcomes>().sent.size(), 5u * 32u);
}

TEST(BatchPipeline, StepStateCarriesAcrossItemsAndRuns) {
  keel::World world = make_world();
  std::vector<int> out;
  auto batch = keel::pipeline<int>(world.registry())
                   .scan(0, [](int& sum, int x) {
                     sum += x;
                     return sum;
                   })
                   .then([&](keel::Local<int> calls, int sum) { out.push_back(sum * 100 + ++*calls); })
                   .build_batch(4);
  batch.push(1);
  batch.push(2);
  batch.run(world);
  batch.push(3);
  batch.run(world);
  EXPECT_EQ(out, (std::vector<int>{101, 302, 603}));
}

TEST(BatchPipeline, AnRvalueEventBatchMovesItemsIntoTheChainWithoutCopying) {
  keel::World world = make_world();
  Counts counts;
  std::vector<int> seen;
  auto batch = keel::pipeline<Tracked>(world.registry())
                   .then([&](Tracked t) { seen.push_back(t.value); })
                   .build_batch(3);
  for (int i = 1; i <= 3; ++i) batch.push(Tracked(counts, i));
  const int moves_before = counts.moves;
  batch.run(world);
  EXPECT_EQ(seen, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(counts.copies, 0);
  EXPECT_EQ(counts.moves - moves_before, 3);  // one move per item, into the step's parameter
}

TEST(BatchPipeline, AConstRefEventBatchLendsItemsWithoutCopyingOrMoving) {
  keel::World world = make_world();
  Counts counts;
  std::vector<const Tracked*> seen;
  auto batch = keel::pipeline<const Tracked&>(world.registry())
                   .tap([](const Tracked&) {})
                   .then([&](const Tracked& t) { seen.push_back(&t); })
                   .build_batch(2);
  batch.push(Tracked(counts, 1));
  batch.push(Tracked(counts, 2));
  const Counts before = counts;
  const Tracked* first = batch.items().data();
  batch.run(world);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], first);
  EXPECT_EQ(seen[1], first + 1);
  EXPECT_EQ(counts.copies, before.copies);
  EXPECT_EQ(counts.moves, before.moves);
}

TEST(BatchPipeline, RunOnAnotherWorldThrowsAndKeepsTheItems) {
  if (!keel::internal::kCheckWorld) GTEST_SKIP() << "the wrong-World check is compiled out (NDEBUG)";
  keel::World first = make_world();
  keel::World second = make_world();
  auto batch = order_batch(first.registry(), 4);
  batch.push(RawMsg{.px = 1, .qty = 1});
  EXPECT_THROW(batch.run(second), keel::ConfigError);
  EXPECT_EQ(batch.size(), 1u);
  EXPECT_TRUE(second.resource<Outcomes>().sent.empty());
  EXPECT_EQ(batch.run(first), 1u);
  EXPECT_EQ(first.resource<Outcomes>().sent.size(), 1u);
}

}  // namespace

namespace {

TEST(BatchPipeline, AThrowingStepLosesTheItemsUpToItAndKeepsTheRestForTheNextRun) {
  keel::World world = make_world();
  Counts counts;
  std::vector<int> seen;
  auto batch = keel::pipeline<const Tracked&>(world.registry())
                   .then([&](const Tracked& item) {
                     if (item.value == 3) throw std::runtime_error("poison item");
                     seen.push_back(item.value);
                   })
                   .build_batch(8);
  for (int v = 1; v <= 5; ++v) batch.emplace(counts, v);
  EXPECT_THROW(batch.run(world), std::runtime_error);
  EXPECT_EQ(seen, (std::vector<int>{1, 2}));
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(counts.live, 2);  // items 1, 2 and the poison item 3 were destroyed
  EXPECT_EQ(batch.items()[0].value, 4);
  EXPECT_EQ(batch.items()[1].value, 5);
  EXPECT_EQ(batch.run(world), 2u);
  EXPECT_EQ(seen, (std::vector<int>{1, 2, 4, 5}));
  EXPECT_EQ(counts.live, 0);
}

TEST(BatchPipeline, ItemsPushedByAStepDuringARunWaitForTheNextRun) {
  keel::World world = make_world();
  // The step reaches its own batch through a std::function set after build.
  struct Loop {
    std::vector<int> seen;
    std::function<bool(int)> push;
  } loop;
  auto batch = keel::pipeline<int>(world.registry())
                   .then([&loop](int x) {
                     loop.seen.push_back(x);
                     if (x < 3) loop.push(x + 10);
                   })
                   .build_batch(8);
  loop.push = [&batch](int x) { return batch.push(x); };
  batch.push(1);
  batch.push(2);
  batch.push(5);
  EXPECT_EQ(batch.run(world), 3u);
  EXPECT_EQ(loop.seen, (std::vector<int>{1, 2, 5}));
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(batch.run(world), 2u);
  EXPECT_EQ(loop.seen, (std::vector<int>{1, 2, 5, 11, 12}));
  EXPECT_EQ(batch.size(), 0u);
}

TEST(BatchPipeline, RunOrClearFromInsideItsOwnRunThrowsAndTheItemsSurvive) {
  keel::World world = make_world();
  std::function<void()> reenter;
  std::vector<int> seen;
  auto batch = keel::pipeline<int>(world.registry())
                   .then([&](int x) {
                     seen.push_back(x);
                     if (x == 2) reenter();
                   })
                   .build_batch(4);
  reenter = [&] { batch.run(world); };
  for (int x = 1; x <= 3; ++x) batch.push(x);
  EXPECT_TRUE(Contains(config_error_message([&] { batch.run(world); }), "from inside its own run()"));
  EXPECT_EQ(seen, (std::vector<int>{1, 2}));
  EXPECT_EQ(batch.size(), 1u);  // item 3 is kept

  reenter = [&] { batch.clear(); };
  batch.push(2);
  EXPECT_THROW(batch.run(world), keel::ConfigError);
  EXPECT_EQ(batch.size(), 0u);  // 3 ran, 2 threw: both gone
  EXPECT_EQ(seen, (std::vector<int>{1, 2, 3, 2}));
}

TEST(BatchPipeline, ClearDestroysTheItemsWithoutRunningThem) {
  keel::World world = make_world();
  Counts counts;
  int ran = 0;
  auto batch = keel::pipeline<const Tracked&>(world.registry()).then([&](const Tracked&) { ++ran; }).build_batch(4);
  batch.emplace(counts, 1);
  batch.emplace(counts, 2);
  EXPECT_EQ(counts.live, 2);
  batch.clear();
  EXPECT_EQ(counts.live, 0);
  EXPECT_EQ(batch.size(), 0u);
  EXPECT_EQ(batch.run(world), 0u);
  EXPECT_EQ(ran, 0);
}

TEST(BatchPipeline, DestroyingTheBatchDestroysItsBufferedItems) {
  keel::World world = make_world();
  Counts counts;
  {
    auto batch = keel::pipeline<Tracked>(world.registry()).then([](Tracked) {}).build_batch(4);
    batch.emplace(counts, 1);
    batch.emplace(counts, 2);
    batch.emplace(counts, 3);
    EXPECT_EQ(counts.live, 3);
  }
  EXPECT_EQ(counts.live, 0);
}

}  // namespace
