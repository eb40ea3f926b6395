// Tests for rt/testing.h: keel::testing::TestHarness owns a World built from
// a builder and advances the sequence once per dispatched event, as a driver
// would.
#include "rt/testing.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "rt/error.h"
#include "rt/handler.h"
#include "rt/param.h"
#include "rt/world.h"

namespace testing_test {

struct Count {
  int n = 0;
};
struct Sequences {
  std::vector<std::uint64_t> seen;
};

keel::WorldBuilder count_builder(int start = 0) {
  keel::WorldBuilder wb;
  wb.insert(Count{.n = start});
  wb.emplace<Sequences>();
  return wb;
}

void record_sequence(keel::Seq seq, keel::ResMut<Sequences> out, int) { out->seen.push_back(seq.value()); }

TEST(TestHarness, OwnsAWorldBuiltFromTheBuilder) {
  keel::testing::TestHarness harness(count_builder(7));
  EXPECT_EQ(harness.world().resource<Count>().n, 7);
  EXPECT_TRUE(harness.registry().contains<Sequences>());
  EXPECT_TRUE(harness.registry().contains<keel::Shutdown>());
  EXPECT_EQ(harness.world().sequence(), 0u);
}

TEST(TestHarness, RegistryIsTheWorldsRegistry) {
  keel::testing::TestHarness harness(count_builder());
  EXPECT_EQ(&harness.registry(), &harness.world().registry());
  EXPECT_EQ(&harness.registry().resolve<Count>(), &harness.world().resource<Count>());
}

TEST(TestHarness, KeepsTheAddressesTheBuilderHandedOut) {
  keel::WorldBuilder wb;
  Count* count = &wb.emplace<Count>();
  const keel::Registry* registry = &wb.registry();
  keel::testing::TestHarness harness(std::move(wb));
  EXPECT_EQ(&harness.world().resource<Count>(), count);
  EXPECT_EQ(&harness.registry(), registry);
}

TEST(TestHarness, DispatchRunsTheHandlerWithTheEvent) {
  keel::testing::TestHarness harness(count_builder());
  auto h = keel::handler(harness.registry(), [](keel::ResMut<Count> c, int e) { c->n += e; });
  harness.dispatch(h, 5);
  harness.dispatch(h, 3);
  EXPECT_EQ(harness.world().resource<Count>().n, 8);
}

TEST(TestHarness, DispatchAdvancesTheSequenceOncePerEvent) {
  keel::testing::TestHarness harness(count_builder());
  auto h = keel::handler(harness.registry(), [](keel::ResMut<Count> c, int) { ++c->n; });
  for (int i = 0; i < 4; ++i) harness.dispatch(h, 0);
  EXPECT_EQ(harness.world().sequence(), 4u);
  EXPECT_EQ(harness.world().resource<Count>().n, 4);
}

TEST(TestHarness, HandlersSeeTheNewSequence) {
  keel::testing::TestHarness harness(count_builder());
  auto h = keel::handler(harness.registry(), record_sequence);
  harness.dispatch(h, 0);
  harness.dispatch(h, 0);
  harness.dispatch(h, 0);
  EXPECT_EQ(harness.world().resource<Sequences>().seen, (std::vector<std::uint64_t>{1, 2, 3}));
}

TEST(TestHarness, SequenceContinuesFromWhatTheWorldAlreadyAdvanced) {
  keel::testing::TestHarness harness(count_builder());
  harness.world().next_sequence();
  harness.world().next_sequence();
  auto h = keel::handler(harness.registry(), record_sequence);
  harness.dispatch(h, 0);
  EXPECT_EQ(harness.world().resource<Sequences>().seen, (std::vector<std::uint64_t>{3}));
}

TEST(TestHarness, DifferentHandlersShareOneSequence) {
  keel::testing::TestHarness harness(count_builder());
  auto a = keel::handler(harness.registry(), record_sequence);
  std::uint64_t seen_by_b = 0;
  auto b = keel::handler(harness.registry(), [&seen_by_b](keel::Seq seq, const std::string&) { seen_by_b = seq; });
  harness.dispatch(a, 0);
  harness.dispatch(b, std::string("b"));
  harness.dispatch(a, 0);
  EXPECT_EQ(seen_by_b, 2u);
  EXPECT_EQ(harness.world().resource<Sequences>().seen, (std::vector<std::uint64_t>{1, 3}));
}

TEST(TestHarness, DispatchesBoxedHandlers) {
  keel::testing::TestHarness harness(count_builder());
  std::unique_ptr<keel::Handler<int>> boxed =
      keel::boxed(keel::handler(harness.registry(), [](keel::ResMut<Count> c, int e) { c->n += e; }));
  harness.dispatch(*boxed, 2);
  harness.dispatch(*boxed, 2);
  EXPECT_EQ(harness.world().resource<Count>().n, 4);
  EXPECT_EQ(harness.world().sequence(), 2u);
}

TEST(TestHarness, DispatchMovesAnRvalueEventIntoTheHandler) {
  keel::testing::TestHarness harness(count_builder());
  auto h = keel::handler(harness.registry(), [](keel::ResMut<Count> c, std::unique_ptr<int> e) { c->n = *e; });
  harness.dispatch(h, std::make_unique<int>(12));
  auto event = std::make_unique<int>(13);
  harness.dispatch(h, std::move(event));
  EXPECT_EQ(event, nullptr);
  EXPECT_EQ(harness.world().resource<Count>().n, 13);
}

TEST(TestHarness, DispatchPassesAConstReferenceEventWithoutCopying) {
  keel::testing::TestHarness harness(count_builder());
  const std::vector<int> event = {1, 2, 3};
  const std::vector<int>* seen = nullptr;
  auto h = keel::handler(harness.registry(), [&seen](const std::vector<int>& e) { seen = &e; });
  harness.dispatch(h, event);
  EXPECT_EQ(seen, &event);
}

TEST(TestHarness, RejectsAHandlerBuiltAgainstAnotherWorld) {
  if (!keel::internal::kCheckWorld) GTEST_SKIP() << "the wrong-World check is compiled out (NDEBUG)";
  keel::testing::TestHarness harness(count_builder());
  keel::testing::TestHarness other(count_builder());
  auto foreign = keel::handler(other.registry(), [](keel::ResMut<Count> c, int e) { c->n += e; });
  EXPECT_THROW(harness.dispatch(foreign, 1), keel::ConfigError);
  EXPECT_EQ(harness.world().resource<Count>().n, 0);
  EXPECT_EQ(other.world().resource<Count>().n, 0);
}

TEST(TestHarness, HandlersCanRequestShutdownOfTheHarnessWorld) {
  keel::testing::TestHarness harness(count_builder());
  auto h = keel::handler(harness.registry(), [](keel::Res<keel::Shutdown> s, int) { s->request(); });
  EXPECT_FALSE(harness.world().shutdown_handle().requested());
  harness.dispatch(h, 0);
  EXPECT_TRUE(harness.world().shutdown_handle().requested());
}

}  // namespace testing_test
