// Tests for tests/rt/tracking.h: what keel_test::Tracked and
// keel_test::AssignableTracked count, so that the tests built on them count
// what they claim to.
#include "tests/rt/tracking.h"

#include <gtest/gtest.h>

#include <optional>
#include <type_traits>
#include <utility>

namespace {

using keel_test::AssignableTracked;
using keel_test::Counts;
using keel_test::Tracked;

static_assert(std::is_copy_constructible_v<Tracked> && std::is_nothrow_move_constructible_v<Tracked>);
static_assert(!std::is_copy_assignable_v<Tracked> && !std::is_move_assignable_v<Tracked>);
static_assert(std::is_copy_assignable_v<AssignableTracked> && std::is_nothrow_move_assignable_v<AssignableTracked>);

TEST(Tracked, CountsCopiesMovesAndTheDestructionOfEachHeldValue) {
  Counts counts;
  {
    Tracked original(counts, 7);
    EXPECT_EQ(counts, (Counts{.instances = 1, .live = 1}));

    Tracked copy(original);
    EXPECT_EQ(copy.value, 7);
    EXPECT_EQ(counts, (Counts{.copies = 1, .instances = 2, .live = 2}));

    Tracked moved(std::move(copy));
    EXPECT_EQ(moved.value, 7);
    EXPECT_TRUE(copy.moved_from());  // NOLINT(bugprone-use-after-move): the point of the test
    EXPECT_FALSE(moved.moved_from());
    EXPECT_EQ(counts, (Counts{.copies = 1, .moves = 1, .instances = 3, .live = 2}));
  }
  // The moved-from shell's destruction is not counted.
  EXPECT_EQ(counts, (Counts{.copies = 1, .moves = 1, .destroyed = 2}));
}

TEST(Tracked, ACopyOrMoveOfAMovedFromObjectIsMovedFromToo) {
  Counts counts;
  Tracked source(counts, 1);
  Tracked target(std::move(source));
  const Tracked copy_of_shell(source);  // NOLINT(bugprone-use-after-move): the point of the test
  const Tracked move_of_shell(std::move(source));
  EXPECT_TRUE(copy_of_shell.moved_from());
  EXPECT_TRUE(move_of_shell.moved_from());
  EXPECT_EQ(counts, (Counts{.copies = 1, .moves = 2, .instances = 4, .live = 1}));
}

TEST(Tracked, ReportsToTheCountsOfItsSource) {
  Counts first;
  Counts second;
  std::optional<Tracked> a(std::in_place, first, 1);
  const Tracked b(second, 2);
  const Tracked copy_of_a(*a);
  a.reset();
  EXPECT_EQ(first, (Counts{.copies = 1, .instances = 1, .live = 1, .destroyed = 1}));
  EXPECT_EQ(second, (Counts{.instances = 1, .live = 1}));
}

TEST(AssignableTracked, CountsAssignmentsAsCopiesAndMoves) {
  Counts counts;
  AssignableTracked a(counts, 1);
  AssignableTracked b(counts, 2);
  AssignableTracked c(counts, 3);
  a = b;
  EXPECT_EQ(a.value, 2);
  a = std::move(c);
  EXPECT_EQ(a.value, 3);
  EXPECT_TRUE(c.moved_from());  // NOLINT(bugprone-use-after-move): the point of the test
  // Overwriting a held value is not a destruction.
  EXPECT_EQ(counts, (Counts{.copies = 1, .moves = 1, .instances = 3, .live = 2}));
}

TEST(AssignableTracked, AssigningAValueRevivesAMovedFromObject) {
  Counts counts;
  AssignableTracked a(counts, 1);
  const AssignableTracked b(std::move(a));
  a = b;  // NOLINT(bugprone-use-after-move): assignment gives it a value again
  EXPECT_FALSE(a.moved_from());
  EXPECT_EQ(counts, (Counts{.copies = 1, .moves = 1, .instances = 2, .live = 2}));
}

TEST(AssignableTracked, SelfAssignmentOnlyCounts) {
  Counts counts;
  AssignableTracked a(counts, 5);
  AssignableTracked& alias = a;
  a = alias;
  a = std::move(alias);
  EXPECT_EQ(a.value, 5);
  EXPECT_FALSE(a.moved_from());
  EXPECT_EQ(counts, (Counts{.copies = 1, .moves = 1, .instances = 1, .live = 1}));
}

TEST(AssignableTracked, AssignmentMovesTheObjectToItsSourcesCounts) {
  Counts first;
  Counts second;
  AssignableTracked a(first, 1);
  AssignableTracked b(second, 2);
  a = std::move(b);
  EXPECT_EQ(first, Counts{});
  EXPECT_EQ(second, (Counts{.moves = 1, .instances = 2, .live = 1}));
}

}  // namespace
