// Tests for rt/registry.h: lookup by type (resolve, try_resolve, id,
// contains), the registration-ordered list of type names, ResourceId, and
// the wording of a missing resource.
#include "rt/registry.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "rt/error.h"
#include "rt/world.h"
#include "tests/rt/fixtures.h"

namespace registry_test {

using keel_test::config_error_message;
using keel_test::Contains;

struct Book {
  int orders = 0;
};
struct Limits {
  int max_qty = 0;
};
template <int N>
struct Tagged {
  int value = N;
};
struct Missing {};
namespace other {
struct Book {
  int pages = 0;
};
}  // namespace other

// How many resources build() adds by itself (Shutdown and Keel's other built-ins).
std::size_t built_in_count() { return keel::WorldBuilder{}.build().registry().size(); }

keel::World book_and_limits_world() {
  keel::WorldBuilder wb;
  wb.emplace<Book>(5);
  wb.insert(Limits{.max_qty = 100});
  return std::move(wb).build();
}

// --- resolve / try_resolve ------------------------------------------------------------

TEST(Registry, ResolveReturnsTheRegisteredObject) {
  keel::World world = book_and_limits_world();
  const keel::Registry& registry = world.registry();
  Book& book = registry.resolve<Book>();
  EXPECT_EQ(&book, &world.resource<Book>());
  EXPECT_EQ(book.orders, 5);
  EXPECT_EQ(registry.resolve<Limits>().max_qty, 100);
  // A const Registry hands out mutable resources: resolution is for building handlers.
  book.orders = 6;
  EXPECT_EQ(world.resource<Book>().orders, 6);
}

TEST(Registry, ResolveOfAMissingTypeThrowsConfigErrorWithTheMissingMessage) {
  keel::World world = book_and_limits_world();
  const std::string message = config_error_message([&] { world.registry().resolve<Missing>(); });
  EXPECT_EQ(message, keel::Registry::missing_message("registry_test::Missing"));
}

TEST(Registry, TryResolveReturnsTheObjectOrNullptr) {
  keel::World world = book_and_limits_world();
  EXPECT_EQ(world.registry().try_resolve<Book>(), &world.resource<Book>());
  EXPECT_EQ(world.registry().try_resolve<Missing>(), nullptr);
  EXPECT_EQ(world.registry().try_resolve<other::Book>(), nullptr);
}

TEST(Registry, TypesWithTheSameNameInDifferentNamespacesAreDistinct) {
  keel::WorldBuilder wb;
  wb.emplace<Book>(1);
  wb.emplace<other::Book>(2);
  keel::World world = std::move(wb).build();
  EXPECT_EQ(world.registry().resolve<Book>().orders, 1);
  EXPECT_EQ(world.registry().resolve<other::Book>().pages, 2);
  EXPECT_NE(static_cast<const void*>(&world.registry().resolve<Book>()),
            static_cast<const void*>(&world.registry().resolve<other::Book>()));
}

TEST(Registry, InstantiationsOfOneTemplateAreDistinctTypes) {
  keel::WorldBuilder wb;
  wb.emplace<Tagged<1>>();
  wb.emplace<Tagged<2>>();
  keel::World world = std::move(wb).build();
  EXPECT_EQ(world.registry().resolve<Tagged<1>>().value, 1);
  EXPECT_EQ(world.registry().resolve<Tagged<2>>().value, 2);
  EXPECT_FALSE(world.registry().contains<Tagged<3>>());
}

// --- contains / size / type_names --------------------------------------------------------

TEST(Registry, ContainsReportsOnlyRegisteredTypes) {
  keel::World world = book_and_limits_world();
  EXPECT_TRUE(world.registry().contains<Book>());
  EXPECT_TRUE(world.registry().contains<Limits>());
  EXPECT_TRUE(world.registry().contains<keel::Shutdown>());
  EXPECT_FALSE(world.registry().contains<Missing>());
  EXPECT_FALSE(world.registry().contains<other::Book>());
}

TEST(Registry, SizeCountsRegistrationsAsTheyHappen) {
  keel::WorldBuilder wb;
  const keel::Registry& registry = wb.registry();
  EXPECT_EQ(registry.size(), 0u);
  wb.emplace<Book>();
  EXPECT_EQ(registry.size(), 1u);
  wb.emplace<Limits>();
  EXPECT_EQ(registry.size(), 2u);
  EXPECT_THROW(wb.emplace<Limits>(), keel::ConfigError);
  EXPECT_EQ(registry.size(), 2u);
  keel::World world = std::move(wb).build();
  EXPECT_EQ(world.registry().size(), 2 + built_in_count());
  EXPECT_GE(built_in_count(), 1u);  // at least Shutdown
}

TEST(Registry, TypeNamesListsRegisteredTypesInRegistrationOrder) {
  keel::WorldBuilder wb;
  wb.emplace<Limits>();
  wb.emplace<Tagged<7>>();
  wb.emplace<other::Book>();
  wb.emplace<Book>();
  keel::World world = std::move(wb).build();
  const std::vector<std::string_view> expected = {"registry_test::Limits", "registry_test::Tagged<7>",
                                                  "registry_test::other::Book", "registry_test::Book"};
  const std::vector<std::string_view>& names = world.registry().type_names();
  ASSERT_EQ(names.size(), world.registry().size());
  ASSERT_EQ(names.size(), expected.size() + built_in_count());
  EXPECT_EQ(std::vector<std::string_view>(names.begin(), names.begin() + 4), expected);
  // build() appends Keel's own resources after the user's.
  for (std::size_t i = expected.size(); i < names.size(); ++i) EXPECT_TRUE(names[i].starts_with("keel::")) << names[i];
  EXPECT_NE(std::find(names.begin(), names.end(), "keel::Shutdown"), names.end());
}

TEST(Registry, AnEmptyRegistryHoldsNothing) {
  const keel::Registry registry;
  EXPECT_EQ(registry.size(), 0u);
  EXPECT_TRUE(registry.type_names().empty());
  EXPECT_FALSE(registry.contains<Book>());
  EXPECT_EQ(registry.try_resolve<Book>(), nullptr);
  EXPECT_THROW(registry.resolve<Book>(), keel::ConfigError);
  EXPECT_THROW(registry.id<Book>(), keel::ConfigError);
}

// Handlers keep the Registry's address, so a copy would silently detach them.
static_assert(!std::is_copy_constructible_v<keel::Registry>);
static_assert(!std::is_copy_assignable_v<keel::Registry>);

// --- ResourceId -------------------------------------------------------------------------

static_assert(std::is_trivially_copyable_v<keel::ResourceId>);
static_assert(sizeof(keel::ResourceId) == sizeof(void*));

TEST(ResourceId, IsTheResourcesAddress) {
  keel::World world = book_and_limits_world();
  const keel::ResourceId book = world.registry().id<Book>();
  EXPECT_EQ(book.address(), static_cast<const void*>(&world.resource<Book>()));
  EXPECT_EQ(world.registry().id<Limits>().address(), static_cast<const void*>(&world.resource<Limits>()));
}

TEST(ResourceId, IsEqualForTheSameTypeAndDifferentForDifferentTypes) {
  keel::World world = book_and_limits_world();
  const keel::ResourceId a = world.registry().id<Book>();
  const keel::ResourceId b = world.registry().id<Book>();
  const keel::ResourceId c = world.registry().id<Limits>();
  EXPECT_TRUE(a == b);
  EXPECT_FALSE(a != b);
  EXPECT_TRUE(a != c);
  EXPECT_FALSE(a == c);
}

TEST(ResourceId, DefaultIsEmptyAndARegisteredOneIsNot) {
  const keel::ResourceId empty;
  EXPECT_FALSE(empty);
  EXPECT_EQ(empty.address(), nullptr);
  EXPECT_EQ(empty, keel::ResourceId{});
  keel::World world = book_and_limits_world();
  const keel::ResourceId book = world.registry().id<Book>();
  EXPECT_TRUE(book);
  EXPECT_NE(book, empty);
}

TEST(ResourceId, IsTheSameDuringBuildingAndAfterTheWorldMoves) {
  keel::WorldBuilder wb;
  wb.emplace<Book>();
  const keel::ResourceId during = wb.registry().id<Book>();
  keel::World built = std::move(wb).build();
  keel::World moved(std::move(built));
  EXPECT_EQ(moved.registry().id<Book>(), during);
  EXPECT_EQ(during.address(), static_cast<const void*>(&moved.resource<Book>()));
}

TEST(ResourceId, OfAMissingTypeThrowsConfigErrorNamingIt) {
  keel::World world = book_and_limits_world();
  const std::string message = config_error_message([&] { (void)world.registry().id<Missing>(); });
  EXPECT_TRUE(Contains(message, "registry_test::Missing"));
}

TEST(ResourceId, IsDistinctForEveryResourceIncludingEmptyOnes) {
  struct EmptyA {};
  struct EmptyB {};
  keel::WorldBuilder wb;
  wb.emplace<EmptyA>();
  wb.emplace<EmptyB>();
  keel::World world = std::move(wb).build();
  EXPECT_NE(world.registry().id<EmptyA>(), world.registry().id<EmptyB>());
  EXPECT_NE(world.registry().id<EmptyA>(), world.registry().id<keel::Shutdown>());
}

// --- missing_message -----------------------------------------------------------------------

TEST(Registry, MissingMessageNamesTheTypeAndHowToRegisterIt) {
  const std::string message = keel::Registry::missing_message("ns::OrderBook");
  EXPECT_TRUE(message.starts_with("keel: ")) << message;
  EXPECT_TRUE(Contains(message, "'ns::OrderBook'"));
  EXPECT_TRUE(Contains(message, "not registered"));
  EXPECT_TRUE(Contains(message, "emplace<ns::OrderBook>()"));
  EXPECT_TRUE(Contains(message, "insert()"));
}

TEST(Registry, MissingMessageIsWhatResolveThrowsForTemplateTypes) {
  keel::World world = book_and_limits_world();
  const std::string message = config_error_message([&] { world.registry().resolve<Tagged<42>>(); });
  EXPECT_EQ(message, keel::Registry::missing_message("registry_test::Tagged<42>"));
}

}  // namespace registry_test
