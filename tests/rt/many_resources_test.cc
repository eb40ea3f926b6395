// Scale test for rt/world.h and rt/registry.h: a World with 10,000 distinct
// resource types, each registered by type, then fetched back by type through
// World::resource<T>() (the dense type table) and Registry::resolve<T>() (the
// hash map), with its value intact and an address of its own.
//
// Compile time: each type instantiates WorldBuilder::emplace<T>,
// World::resource<T> and Registry::resolve<T> once; with g++ 12 at -O1 that
// costs about 20 ms of CPU per type whatever the layout (10,000 types: about
// 250 s and 5.7 GB). To stay at that floor, each type gets exactly two small
// functions (register, look up), reached through constexpr tables of
// function pointers; the tests loop over the tables at run time. (Folding
// 10,000 calls into a few large function bodies took 14 minutes and 6.5 GB.)
//
// Under ASan+UBSan (-g) a type costs about 90 ms and 10,000 types need more
// than 20 minutes and 15 GB, so sanitizer builds use 500 types: the same code
// paths (dense table, hash map growth, arena), checked for memory errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rt/error.h"
#include "rt/registry.h"
#include "rt/world.h"

namespace many_resources_test {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr int kTypes = 500;
#else
constexpr int kTypes = 10'000;
#endif

template <int N>
struct R {
  int value = N;
};

// What one type's lookups returned.
struct Found {
  int* by_world;     // &world.resource<R<N>>().value
  int* by_registry;  // &world.registry().resolve<R<N>>().value
};

template <int N>
struct PerType {
  static void register_in(keel::WorldBuilder& wb) { wb.emplace<R<N>>(); }
  static Found find_in(keel::World& world) {
    return {&world.resource<R<N>>().value, &world.registry().resolve<R<N>>().value};
  }
};

using RegisterFn = void (*)(keel::WorldBuilder&);
using FindFn = Found (*)(keel::World&);

template <std::size_t... I>
constexpr std::array<RegisterFn, sizeof...(I)> register_table(std::index_sequence<I...>) {
  return {{&PerType<static_cast<int>(I)>::register_in...}};
}
template <std::size_t... I>
constexpr std::array<FindFn, sizeof...(I)> find_table(std::index_sequence<I...>) {
  return {{&PerType<static_cast<int>(I)>::find_in...}};
}

constexpr auto kRegister = register_table(std::make_index_sequence<kTypes>{});
constexpr auto kFind = find_table(std::make_index_sequence<kTypes>{});

// How many resources build() adds by itself (Shutdown and Keel's other built-ins).
std::size_t built_in_count() { return keel::WorldBuilder{}.build().registry().size(); }

keel::World build_world() {
  keel::WorldBuilder wb;
  for (RegisterFn register_in : kRegister) register_in(wb);
  return std::move(wb).build();
}

std::vector<Found> find_all(keel::World& world) {
  std::vector<Found> found;
  found.reserve(kTypes);
  for (FindFn find_in : kFind) found.push_back(find_in(world));
  return found;
}

TEST(ManyResources, TenThousandTypesAreRegistered) {
  keel::World world = build_world();
  EXPECT_EQ(world.registry().size(), static_cast<std::size_t>(kTypes) + built_in_count());
  EXPECT_TRUE(world.registry().contains<R<0>>());
  EXPECT_TRUE(world.registry().contains<R<kTypes - 1>>());
  EXPECT_FALSE(world.registry().contains<R<kTypes>>());
  EXPECT_EQ(world.try_resource<R<kTypes>>(), nullptr);
  EXPECT_THROW(world.resource<R<kTypes>>(), keel::ConfigError);
}

TEST(ManyResources, EachTypeIsFetchedBackWithItsValueThroughWorldAndRegistry) {
  keel::World world = build_world();
  const std::vector<Found> found = find_all(world);
  ASSERT_EQ(found.size(), static_cast<std::size_t>(kTypes));
  int wrong_value = 0;
  int disagree = 0;
  int first_bad = -1;
  for (int n = 0; n < kTypes; ++n) {
    const Found& f = found[static_cast<std::size_t>(n)];
    const bool value_ok = *f.by_world == n;
    const bool same_object = f.by_world == f.by_registry;
    wrong_value += value_ok ? 0 : 1;
    disagree += same_object ? 0 : 1;
    if ((!value_ok || !same_object) && first_bad < 0) first_bad = n;
  }
  EXPECT_EQ(wrong_value, 0) << "first bad type: R<" << first_bad << ">";
  EXPECT_EQ(disagree, 0) << "World and Registry disagree; first bad type: R<" << first_bad << ">";
}

TEST(ManyResources, EachTypeHasAResourceOfItsOwn) {
  keel::World world = build_world();
  const std::vector<Found> found = find_all(world);
  std::vector<const int*> addresses;
  addresses.reserve(found.size());
  for (const Found& f : found) addresses.push_back(f.by_world);
  std::sort(addresses.begin(), addresses.end());
  EXPECT_EQ(std::adjacent_find(addresses.begin(), addresses.end()), addresses.end())
      << "two types share one resource";
}

TEST(ManyResources, TypeNamesFollowRegistrationOrder) {
  keel::World world = build_world();
  const std::vector<std::string_view>& names = world.registry().type_names();
  ASSERT_EQ(names.size(), static_cast<std::size_t>(kTypes) + built_in_count());
  int mismatches = 0;
  int first_mismatch = -1;
  for (int n = 0; n < kTypes; ++n) {
    const std::string expected = "many_resources_test::R<" + std::to_string(n) + ">";
    if (names[static_cast<std::size_t>(n)] != expected) {
      ++mismatches;
      if (first_mismatch < 0) first_mismatch = n;
    }
  }
  EXPECT_EQ(mismatches, 0) << "first mismatch at " << first_mismatch << ": "
                           << names[static_cast<std::size_t>(std::max(first_mismatch, 0))];
  for (std::size_t i = kTypes; i < names.size(); ++i) EXPECT_TRUE(names[i].starts_with("keel::")) << names[i];
}

TEST(ManyResources, TwoWorldsWithTheSameTypesHoldSeparateResources) {
  keel::World first = build_world();
  keel::World second = build_world();
  const std::vector<Found> in_first = find_all(first);
  for (const Found& f : in_first) *f.by_world = -1;
  const std::vector<Found> in_second = find_all(second);
  int shared = 0;
  int changed = 0;
  for (int n = 0; n < kTypes; ++n) {
    const std::size_t i = static_cast<std::size_t>(n);
    shared += in_first[i].by_world == in_second[i].by_world ? 1 : 0;
    changed += *in_second[i].by_world != n ? 1 : 0;
  }
  EXPECT_EQ(shared, 0);
  EXPECT_EQ(changed, 0);
  // And the writes through World::resource are what the first World's Registry sees.
  EXPECT_EQ(first.registry().resolve<R<kTypes - 1>>().value, -1);
}

}  // namespace many_resources_test
