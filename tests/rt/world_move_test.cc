// What a moved-from World may do, and what moving a World keeps. A
// moved-from World owns nothing and points into nothing: everything it can
// still be asked is answered without touching the storage it gave away,
// which ASan checks when these tests run under --config=asan.

#include <gtest/gtest.h>

#include <string>
#include <utility>

#include "rt/handler.h"
#include "rt/param.h"
#include "rt/world.h"
#include "tests/rt/fixtures.h"

namespace world_move_test {
struct Book {
  int qty = 0;
};
}  // namespace world_move_test

namespace {

using keel_test::config_error_message;
using keel_test::Contains;
using world_move_test::Book;

void add_qty(keel::ResMut<Book> book, int qty) { book->qty += qty; }

// NOLINTBEGIN(bugprone-use-after-move): reading moved-from Worlds is the point.

TEST(WorldMove, MovedFromWorldHasSerialZeroAndAnEmptyRegistry) {
  keel::World source = keel_test::world_with(Book{});
  const std::uint64_t serial = source.serial();
  keel::World destination(std::move(source));

  EXPECT_NE(serial, 0u);
  EXPECT_EQ(destination.serial(), serial);
  EXPECT_EQ(source.serial(), 0u);
  EXPECT_EQ(source.sequence(), 0u);
  EXPECT_NE(&source.registry(), &destination.registry());
  EXPECT_FALSE(source.registry().contains<Book>());
  EXPECT_FALSE(source.registry().contains<keel::Shutdown>());
  EXPECT_EQ(source.try_resource<Book>(), nullptr);
}

TEST(WorldMove, RegistryOfAMovedFromWorldOutlivesTheDestination) {
  keel::World source = keel_test::world_with(Book{});
  { keel::World destination(std::move(source)); }
  // The destination and every resource are gone; the moved-from World
  // still answers from its own (empty) registry.
  EXPECT_FALSE(source.registry().contains<Book>());
  EXPECT_TRUE(Contains(config_error_message([&] { (void)source.registry().resolve<Book>(); }), "Book"));
}

TEST(WorldMove, HandlerRunOnAMovedFromWorldAfterTheDestinationIsGoneIsAConfigError) {
  if (!keel::internal::kCheckWorld) GTEST_SKIP() << "the wrong-World check is off in this build";
  keel::World source = keel_test::world_with(Book{});
  auto handler = keel::handler(source.registry(), add_qty);
  { keel::World destination(std::move(source)); }

  const std::string message = config_error_message([&] { handler.run(source, 1); });
  EXPECT_TRUE(Contains(message, "add_qty"));
  EXPECT_TRUE(Contains(message, "run on World #0"));
}

TEST(WorldMove, HandlerRunOnAMovedFromAssignmentSourceIsAConfigError) {
  if (!keel::internal::kCheckWorld) GTEST_SKIP() << "the wrong-World check is off in this build";
  keel::World source = keel_test::world_with(Book{});
  auto handler = keel::handler(source.registry(), add_qty);
  keel::World destination = keel::WorldBuilder{}.build();
  destination = std::move(source);

  EXPECT_TRUE(Contains(config_error_message([&] { handler.run(source, 1); }), "add_qty"));
  handler.run(destination, 2);
  EXPECT_EQ(destination.resource<Book>().qty, 2);
}

TEST(WorldMove, HandlersBuiltBeforeAMoveRunOnTheDestination) {
  keel::World source = keel_test::world_with(Book{});
  auto handler = keel::handler(source.registry(), add_qty);
  keel::World destination(std::move(source));
  handler.run(destination, 3);
  keel::World last = keel::WorldBuilder{}.build();
  last = std::move(destination);
  handler.run(last, 4);
  EXPECT_EQ(last.resource<Book>().qty, 7);
}

TEST(WorldMove, ResourceOnAMovedFromWorldThrowsConfigErrorSayingItWasMovedFrom) {
  keel::World source = keel_test::world_with(Book{});
  keel::World destination(std::move(source));
  EXPECT_TRUE(Contains(config_error_message([&] { (void)source.resource<Book>(); }), "moved from"));
  EXPECT_TRUE(Contains(config_error_message([&] { source.dispatch_reactors(); }), "moved from"));
}

TEST(WorldMove, RunOnAMovedFromWorldReturnsWithoutStepping) {
  keel::World source = keel_test::world_with(Book{});
  keel::World destination(std::move(source));
  int steps = 0;
  source.run([&](keel::World&) { ++steps; });
  EXPECT_EQ(steps, 0);
  EXPECT_TRUE(source.shutdown_handle().requested());
  EXPECT_FALSE(destination.shutdown_handle().requested());
}

TEST(WorldMove, RunStartupOnAMovedFromWorldNamesTheMissingResource) {
  keel::World source = keel_test::world_with(Book{});
  keel::World destination(std::move(source));
  const std::string message = config_error_message([&] { source.run_startup([](keel::ResMut<Book>) {}); });
  EXPECT_TRUE(Contains(message, "Book"));
}

TEST(WorldMove, AMovedFromWorldCanBeAssignedToAndThenUsed) {
  keel::World source = keel_test::world_with(Book{.qty = 5});
  keel::World destination(std::move(source));
  source = keel_test::world_with(Book{.qty = 9});
  EXPECT_NE(source.serial(), 0u);
  EXPECT_EQ(source.resource<Book>().qty, 9);
  EXPECT_EQ(destination.resource<Book>().qty, 5);
  auto handler = keel::handler(source.registry(), add_qty);
  handler.run(source, 1);
  EXPECT_EQ(source.resource<Book>().qty, 10);
}

TEST(WorldMove, AssigningAMovedFromWorldLeavesBothVacant) {
  keel::World source = keel_test::world_with(Book{});
  keel::World destination(std::move(source));
  keel::World vacant(std::move(source));
  EXPECT_EQ(vacant.serial(), 0u);
  EXPECT_EQ(source.serial(), 0u);
  EXPECT_FALSE(vacant.registry().contains<Book>());
  destination = std::move(vacant);
  EXPECT_EQ(destination.serial(), 0u);
  EXPECT_EQ(destination.try_resource<Book>(), nullptr);
}

TEST(WorldMove, SelfMoveAssignmentKeepsEverything) {
  keel::World world = keel_test::world_with(Book{.qty = 3});
  auto handler = keel::handler(world.registry(), add_qty);
  const std::uint64_t serial = world.serial();
  const keel::Registry* registry = &world.registry();
  world.next_sequence();

  keel::World& alias = world;
  world = std::move(alias);

  EXPECT_EQ(world.serial(), serial);
  EXPECT_EQ(&world.registry(), registry);
  EXPECT_EQ(world.sequence(), 1u);
  EXPECT_EQ(world.resource<Book>().qty, 3);
  handler.run(world, 1);
  EXPECT_EQ(world.resource<Book>().qty, 4);
}

// NOLINTEND(bugprone-use-after-move)

}  // namespace
