// Tests for rt/world.h: WorldBuilder (registration, plugins, drivers, the
// shared Registry), World (lookup, sequence, startup, the run loop,
// Shutdown, moves) and resource lifetimes (construction without copies,
// destruction exactly once in reverse registration order, throwing
// constructors, large and over-aligned resources).
#include "rt/world.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
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
#include "rt/registry.h"
#include "tests/rt/fixtures.h"

namespace world_test {

// --- helpers -------------------------------------------------------------------

using keel_test::config_error_message;
using keel_test::Contains;

bool is_aligned(const void* p, std::size_t align) { return reinterpret_cast<std::uintptr_t>(p) % align == 0; }

// How many resources build() adds by itself (Shutdown and Keel's other built-ins).
std::size_t built_in_count() { return keel::WorldBuilder{}.build().registry().size(); }

// Counts what happens to Tracked objects and records, in order, the names of
// the objects destroyed (moved-from shells are counted but not named).
struct Stats {
  int constructed = 0;
  int copied = 0;
  int moved = 0;
  int destroyed = 0;
  std::vector<std::string> destroyed_names;
  int live() const { return constructed + copied + moved - destroyed; }
};

// A drop-tracking resource; Id makes distinct resource types. The heap
// payload makes a double destruction a double free, which ASan reports.
template <int Id>
class Tracked {
 public:
  Tracked(Stats& stats, std::string name, int value = 0)
      : stats_(&stats), name_(std::move(name)), value_(value), payload_(std::make_unique<int>(value)) {
    ++stats_->constructed;
  }
  Tracked(const Tracked& other)
      : stats_(other.stats_),
        name_(other.name_),
        value_(other.value_),
        payload_(std::make_unique<int>(*other.payload_)) {
    ++stats_->copied;
  }
  Tracked(Tracked&& other) noexcept
      : stats_(other.stats_), name_(std::move(other.name_)), value_(other.value_), payload_(std::move(other.payload_)) {
    other.moved_from_ = true;
    ++stats_->moved;
  }
  Tracked& operator=(const Tracked&) = delete;
  Tracked& operator=(Tracked&&) = delete;
  ~Tracked() {
    ++stats_->destroyed;
    if (!moved_from_) stats_->destroyed_names.push_back(name_);
  }

  const std::string& name() const { return name_; }
  int value() const { return value_; }
  int payload() const { return *payload_; }
  void set(int v) {
    value_ = v;
    *payload_ = v;
  }

 private:
  Stats* stats_;
  std::string name_;
  int value_;
  std::unique_ptr<int> payload_;
  bool moved_from_ = false;
};

struct Alpha {
  int value = 0;
};
struct Beta {
  std::string text;
};
struct Missing {};

// --- WorldBuilder: registration ---------------------------------------------------

TEST(WorldBuilder, EmplaceConstructsTheResourceInPlaceFromConstructorArguments) {
  Stats stats;
  {
    keel::WorldBuilder wb;
    Tracked<1>& t = wb.emplace<Tracked<1>>(stats, "in place", 7);
    EXPECT_EQ(t.name(), "in place");
    EXPECT_EQ(t.value(), 7);
    EXPECT_EQ(stats.constructed, 1);
    EXPECT_EQ(stats.copied, 0);
    EXPECT_EQ(stats.moved, 0);

    keel::World world = std::move(wb).build();
    EXPECT_EQ(&world.resource<Tracked<1>>(), &t);
    EXPECT_EQ(stats.copied, 0);
    EXPECT_EQ(stats.moved, 0);
  }
  EXPECT_EQ(stats.live(), 0);
}

TEST(WorldBuilder, InsertMovesAnRvalueInWithoutCopying) {
  Stats stats;
  {
    keel::WorldBuilder wb;
    Tracked<1>& t = wb.insert(Tracked<1>(stats, "moved", 3));
    static_assert(std::is_same_v<decltype(wb.insert(std::declval<Tracked<1>>())), Tracked<1>&>);
    EXPECT_EQ(t.value(), 3);
    EXPECT_EQ(t.payload(), 3);
    EXPECT_EQ(stats.constructed, 1);
    EXPECT_EQ(stats.moved, 1);
    EXPECT_EQ(stats.copied, 0);
    keel::World world = std::move(wb).build();
    EXPECT_EQ(world.resource<Tracked<1>>().name(), "moved");
  }
  EXPECT_EQ(stats.live(), 0);
  EXPECT_EQ(stats.destroyed_names, std::vector<std::string>{"moved"});
}

TEST(WorldBuilder, InsertCopiesAnLvalueAndLeavesTheOriginalIntact) {
  Stats stats;
  {
    const Tracked<1> original(stats, "original", 5);
    keel::WorldBuilder wb;
    Tracked<1>& t = wb.insert(original);
    EXPECT_NE(&t, &original);
    EXPECT_EQ(stats.copied, 1);
    EXPECT_EQ(stats.moved, 0);
    EXPECT_EQ(t.value(), 5);
    t.set(6);
    EXPECT_EQ(original.value(), 5);
    EXPECT_EQ(original.payload(), 5);
    keel::World world = std::move(wb).build();
    EXPECT_EQ(world.resource<Tracked<1>>().value(), 6);
  }
  EXPECT_EQ(stats.live(), 0);
}

TEST(WorldBuilder, InsertWithDesignatedInitializerRegistersTheValue) {
  keel::WorldBuilder wb;
  wb.insert(Alpha{.value = 100});
  keel::World world = std::move(wb).build();
  EXPECT_EQ(world.resource<Alpha>().value, 100);
}

TEST(WorldBuilder, ContainsReportsOnlyRegisteredTypes) {
  keel::WorldBuilder wb;
  EXPECT_FALSE(wb.contains<Alpha>());
  wb.emplace<Alpha>();
  EXPECT_TRUE(wb.contains<Alpha>());
  EXPECT_FALSE(wb.contains<Beta>());
  EXPECT_FALSE(wb.contains<keel::Shutdown>());
}

TEST(WorldBuilder, ResourceDuringBuildingIsTheObjectTheWorldKeeps) {
  keel::WorldBuilder wb;
  wb.emplace<Alpha>(1);
  Alpha& during = wb.resource<Alpha>();
  during.value = 41;
  ++wb.resource<Alpha>().value;
  keel::World world = std::move(wb).build();
  EXPECT_EQ(&world.resource<Alpha>(), &during);
  EXPECT_EQ(world.resource<Alpha>().value, 42);
}

TEST(WorldBuilder, ResourceDuringBuildingOfAMissingTypeThrowsConfigErrorNamingIt) {
  keel::WorldBuilder wb;
  wb.emplace<Alpha>();
  const std::string message = config_error_message([&] { wb.resource<Missing>(); });
  EXPECT_TRUE(Contains(message, "world_test::Missing"));
}

TEST(WorldBuilder, RegisteringATypeTwiceThrowsConfigErrorNamingItAndKeepsTheFirst) {
  Stats stats;
  {
    keel::WorldBuilder wb;
    Tracked<1>& first = wb.emplace<Tracked<1>>(stats, "first", 1);
    const std::string by_emplace = config_error_message([&] { wb.emplace<Tracked<1>>(stats, "second", 2); });
    EXPECT_TRUE(Contains(by_emplace, "world_test::Tracked<1>"));
    EXPECT_TRUE(Contains(by_emplace, "twice"));
    // The rejected registration constructed nothing.
    EXPECT_EQ(stats.constructed, 1);

    const std::string by_insert = config_error_message([&] { wb.insert(Tracked<1>(stats, "third", 3)); });
    EXPECT_TRUE(Contains(by_insert, "world_test::Tracked<1>"));

    EXPECT_EQ(wb.registry().size(), 1u);
    EXPECT_EQ(&wb.resource<Tracked<1>>(), &first);
    keel::World world = std::move(wb).build();
    EXPECT_EQ(&world.resource<Tracked<1>>(), &first);
    EXPECT_EQ(first.name(), "first");
    EXPECT_EQ(first.value(), 1);
    EXPECT_EQ(first.payload(), 1);
  }
  EXPECT_EQ(stats.live(), 0);
  // "third" was a temporary the caller made; "first" is destroyed once, by the World.
  EXPECT_EQ(std::count(stats.destroyed_names.begin(), stats.destroyed_names.end(), "first"), 1);
  EXPECT_EQ(std::count(stats.destroyed_names.begin(), stats.destroyed_names.end(), "second"), 0);
}

TEST(WorldBuilder, RegisteringShutdownBeforeBuildMakesBuildThrowConfigError) {
  keel::WorldBuilder wb;
  wb.emplace<keel::Shutdown>();
  const std::string message = config_error_message([&] { (void)std::move(wb).build(); });
  EXPECT_TRUE(Contains(message, "keel::Shutdown"));
}

TEST(WorldBuilder, BuildRegistersShutdownUnrequested) {
  keel::WorldBuilder wb;
  wb.emplace<Alpha>();
  EXPECT_FALSE(wb.registry().contains<keel::Shutdown>());
  keel::World world = std::move(wb).build();
  ASSERT_TRUE(world.registry().contains<keel::Shutdown>());
  EXPECT_EQ(&world.resource<keel::Shutdown>(), &world.shutdown_handle());
  EXPECT_FALSE(world.shutdown_handle().requested());
  EXPECT_EQ(world.registry().size(), 1 + built_in_count());
}

TEST(WorldBuilder, BuildAddsOnlyKeelsOwnResourcesAfterTheUsers) {
  keel::WorldBuilder wb;
  wb.emplace<Alpha>();
  keel::World world = std::move(wb).build();
  const std::vector<std::string_view>& names = world.registry().type_names();
  ASSERT_GE(names.size(), 2u);
  EXPECT_EQ(names.front(), "world_test::Alpha");
  for (std::size_t i = 1; i < names.size(); ++i) EXPECT_TRUE(names[i].starts_with("keel::")) << names[i];
  EXPECT_NE(std::find(names.begin(), names.end(), "keel::Shutdown"), names.end());
}

TEST(WorldBuilder, BuildingTwiceThrowsConfigError) {
  keel::WorldBuilder wb;
  keel::World world = std::move(wb).build();
  const std::string message = config_error_message([&] { (void)std::move(wb).build(); });
  EXPECT_TRUE(Contains(message, "build()"));
}

TEST(WorldBuilder, UsingABuilderAfterBuildThrowsConfigError) {
  keel::WorldBuilder wb;
  wb.emplace<Alpha>();
  keel::World world = std::move(wb).build();
  EXPECT_THROW(wb.emplace<Beta>(), keel::ConfigError);
  EXPECT_THROW(wb.insert(Beta{"late"}), keel::ConfigError);
  EXPECT_THROW((void)wb.contains<Alpha>(), keel::ConfigError);
  EXPECT_THROW((void)wb.registry(), keel::ConfigError);
  EXPECT_THROW(wb.resource<Alpha>(), keel::ConfigError);
  // The World is untouched.
  EXPECT_FALSE(world.registry().contains<Beta>());
  EXPECT_EQ(world.registry().size(), 1 + built_in_count());
}

TEST(WorldBuilder, UsingAMovedFromBuilderThrowsConfigError) {
  keel::WorldBuilder wb;
  keel::WorldBuilder other(std::move(wb));
  EXPECT_THROW(wb.emplace<Alpha>(), keel::ConfigError);
  EXPECT_FALSE(other.contains<Alpha>());
}

TEST(WorldBuilder, MovingABuilderCarriesItsRegistrations) {
  keel::WorldBuilder first;
  Alpha& a = first.emplace<Alpha>(9);
  const keel::Registry* registry = &first.registry();
  keel::WorldBuilder second(std::move(first));
  EXPECT_EQ(&second.registry(), registry);
  keel::World world = std::move(second).build();
  EXPECT_EQ(&world.resource<Alpha>(), &a);
  EXPECT_EQ(world.resource<Alpha>().value, 9);
}

// --- WorldBuilder: plugins and drivers -------------------------------------------------

struct Greeting {
  std::string text;
};
struct Repeat {
  int times = 0;
};

// A plugin: a bundle of registrations travelling as one value.
struct GreetingPlugin {
  std::string text;
  int times;
  void build(keel::WorldBuilder& wb) && {
    wb.insert(Greeting{std::move(text)});
    wb.emplace<Repeat>(times);
  }
};

// A plugin that configures what an earlier one registered.
struct LouderPlugin {
  void build(keel::WorldBuilder& wb) && { wb.resource<Repeat>().times *= 10; }
};

TEST(WorldBuilder, InstallRunsThePluginsBuildAgainstTheBuilder) {
  keel::WorldBuilder wb;
  keel::WorldBuilder& chained = wb.install(GreetingPlugin{"hello", 2}).install(LouderPlugin{});
  EXPECT_EQ(&chained, &wb);
  keel::World world = std::move(wb).build();
  EXPECT_EQ(world.resource<Greeting>().text, "hello");
  EXPECT_EQ(world.resource<Repeat>().times, 20);
}

TEST(WorldBuilder, InstallTakesAnLvaluePluginByCopy) {
  keel::WorldBuilder wb;
  GreetingPlugin plugin{"kept", 1};
  wb.install(plugin);
  EXPECT_EQ(plugin.text, "kept");  // the plugin consumed its own copy
  keel::World world = std::move(wb).build();
  EXPECT_EQ(world.resource<Greeting>().text, "kept");
}

struct Ticks {
  int count = 0;
};

// A poller holding a handler resolved during installation, against the
// builder's registry.
template <class H>
class TickPoller {
 public:
  TickPoller(H handler, int step) : handler_(std::move(handler)), step_(step) {}
  void poll(keel::World& world) { handler_.run(world, step_); }

 private:
  H handler_;
  int step_;
};

void add_ticks(keel::ResMut<Ticks> ticks, int step) { ticks->count += step; }

// A move-only installer: configuration consumed by install_driver().
struct TickInstaller {
  std::unique_ptr<int> step;
  auto install(keel::WorldBuilder& wb) && {
    wb.emplace<Ticks>();
    return TickPoller(keel::handler(wb.registry(), add_ticks), *step);
  }
};

TEST(WorldBuilder, InstallDriverReturnsTheInstallersPoller) {
  keel::WorldBuilder wb;
  auto poller = wb.install_driver(TickInstaller{std::make_unique<int>(3)});
  using TickHandler = decltype(keel::handler(std::declval<const keel::Registry&>(), add_ticks));
  static_assert(std::is_same_v<decltype(poller), TickPoller<TickHandler>>);
  EXPECT_TRUE(wb.contains<Ticks>());
  keel::World world = std::move(wb).build();
  poller.poll(world);
  poller.poll(world);
  EXPECT_EQ(world.resource<Ticks>().count, 6);
}

TEST(WorldBuilder, RegistryDuringBuildingIsTheWorldsRegistry) {
  keel::WorldBuilder wb;
  wb.emplace<Alpha>();
  const keel::Registry* during = &wb.registry();
  EXPECT_EQ(during->size(), 1u);
  wb.emplace<Beta>();
  EXPECT_EQ(&wb.registry(), during);
  EXPECT_EQ(during->size(), 2u);
  // A handler resolved while building runs on the built World.
  auto h = keel::handler(wb.registry(), [](keel::ResMut<Alpha> a, int e) { a->value += e; });
  keel::World world = std::move(wb).build();
  EXPECT_EQ(&world.registry(), during);
  h.run(world, 5);
  EXPECT_EQ(world.resource<Alpha>().value, 5);
}

// --- World: lookup -------------------------------------------------------------------

TEST(World, ResourceReturnsTheRegisteredObjectByType) {
  keel::WorldBuilder wb;
  Alpha& a = wb.emplace<Alpha>(1);
  Beta& b = wb.insert(Beta{"two"});
  keel::World world = std::move(wb).build();
  EXPECT_EQ(&world.resource<Alpha>(), &a);
  EXPECT_EQ(&world.resource<Beta>(), &b);
  EXPECT_EQ(world.resource<Beta>().text, "two");
  EXPECT_EQ(&world.resource<Alpha>(), &world.registry().resolve<Alpha>());
  world.resource<Alpha>().value = 11;
  EXPECT_EQ(a.value, 11);
}

TEST(World, ResourceOfAMissingTypeThrowsConfigErrorNamingIt) {
  keel::WorldBuilder wb;
  wb.emplace<Alpha>();
  keel::World world = std::move(wb).build();
  const std::string message = config_error_message([&] { world.resource<Missing>(); });
  EXPECT_TRUE(Contains(message, "world_test::Missing"));
  EXPECT_EQ(message, keel::Registry::missing_message("world_test::Missing"));
}

TEST(World, TryResourceReturnsTheObjectOrNullptr) {
  keel::WorldBuilder wb;
  Alpha& a = wb.emplace<Alpha>();
  keel::World world = std::move(wb).build();
  EXPECT_EQ(world.try_resource<Alpha>(), &a);
  EXPECT_EQ(world.try_resource<Missing>(), nullptr);
}

struct OnlyInFirstWorld {};
struct OnlyInSecondWorld {};

TEST(World, TryResourceIsNullptrForATypeRegisteredOnlyInAnotherWorld) {
  // OnlyInFirstWorld gets its dense type index first, so it falls inside the
  // second World's dense table without being registered there.
  keel::WorldBuilder first_builder;
  first_builder.emplace<OnlyInFirstWorld>();
  keel::World first = std::move(first_builder).build();
  keel::WorldBuilder second_builder;
  second_builder.emplace<OnlyInSecondWorld>();
  keel::World second = std::move(second_builder).build();
  ASSERT_LT(keel::internal::type_index<OnlyInFirstWorld>(), keel::internal::type_index<OnlyInSecondWorld>());

  EXPECT_NE(second.try_resource<OnlyInSecondWorld>(), nullptr);
  EXPECT_EQ(second.try_resource<OnlyInFirstWorld>(), nullptr);
  EXPECT_EQ(first.try_resource<OnlyInSecondWorld>(), nullptr);
  EXPECT_THROW(second.resource<OnlyInFirstWorld>(), keel::ConfigError);
}

TEST(World, SequenceStartsAtZeroAndNextSequenceAdvancesItByOne) {
  keel::World world = keel::WorldBuilder{}.build();
  EXPECT_EQ(world.sequence(), 0u);
  EXPECT_EQ(world.next_sequence(), 1u);
  EXPECT_EQ(world.sequence(), 1u);
  EXPECT_EQ(world.next_sequence(), 2u);
  EXPECT_EQ(world.next_sequence(), 3u);
  EXPECT_EQ(world.sequence(), 3u);
}

// --- World: startup ------------------------------------------------------------------

struct Config {
  int start = 0;
};
struct Counter {
  int value = 0;
};

int seed_counter(keel::ResMut<Counter> counter, keel::Res<Config> config) {
  counter->value = config->start;
  return counter->value + 1;
}

TEST(World, RunStartupInjectsParametersAndReturnsTheFunctionsResult) {
  keel::WorldBuilder wb;
  wb.insert(Config{.start = 40});
  wb.emplace<Counter>();
  keel::World world = std::move(wb).build();

  const int from_lambda = world.run_startup([](keel::ResMut<Counter> c, keel::Res<Config> cfg, keel::Seq seq) {
    c->value = cfg->start * 2 + static_cast<int>(seq.value());
    return c->value;
  });
  EXPECT_EQ(from_lambda, 80);
  EXPECT_EQ(world.resource<Counter>().value, 80);

  const int from_function = world.run_startup(seed_counter);
  EXPECT_EQ(from_function, 41);
  EXPECT_EQ(world.resource<Counter>().value, 40);
}

TEST(World, RunStartupCanReturnAReferenceToAResource) {
  keel::WorldBuilder wb;
  wb.emplace<Counter>();
  keel::World world = std::move(wb).build();
  Counter& c = world.run_startup([](keel::ResMut<Counter> counter) -> Counter& { return *counter; });
  EXPECT_EQ(&c, &world.resource<Counter>());
}

TEST(World, RunStartupWithoutParametersRunsOnce) {
  keel::World world = keel::WorldBuilder{}.build();
  int calls = 0;
  world.run_startup([&calls] { ++calls; });
  EXPECT_EQ(calls, 1);
}

TEST(World, RunStartupThrowsConfigErrorNamingAMissingParameter) {
  keel::WorldBuilder wb;
  wb.emplace<Counter>();
  keel::World world = std::move(wb).build();
  bool ran = false;
  const std::string message = config_error_message([&] {
    world.run_startup([&ran](keel::ResMut<Counter>, keel::Res<Missing>) { ran = true; });
  });
  EXPECT_FALSE(ran);
  EXPECT_TRUE(Contains(message, "world_test::Missing"));
  EXPECT_TRUE(Contains(message, "startup function"));
}

// --- World: the run loop and Shutdown ------------------------------------------------------

TEST(World, RunLoopsUntilAHandlerRequestsShutdown) {
  keel::WorldBuilder wb;
  wb.emplace<Counter>();
  keel::World world = std::move(wb).build();
  auto stop_at_three = keel::handler(world.registry(), [](keel::ResMut<Counter> c, keel::Res<keel::Shutdown> s, int) {
    if (++c->value == 3) s->request();
  });
  int steps = 0;
  world.run([&](keel::World& w) {
    ++steps;
    stop_at_three.run(w, 0);
  });
  EXPECT_EQ(steps, 3);
  EXPECT_EQ(world.resource<Counter>().value, 3);
  EXPECT_TRUE(world.shutdown_handle().requested());
}

TEST(World, RunLoopsUntilTheShutdownHandleIsRequested) {
  keel::World world = keel::WorldBuilder{}.build();
  int steps = 0;
  world.run([&](keel::World& w) {
    EXPECT_EQ(&w, &world);
    if (++steps == 5) w.shutdown_handle().request();
  });
  EXPECT_EQ(steps, 5);
}

TEST(World, RunDoesNotStepWhenShutdownIsAlreadyRequested) {
  keel::World world = keel::WorldBuilder{}.build();
  world.shutdown_handle().request();
  int steps = 0;
  world.run([&](keel::World&) { ++steps; });
  EXPECT_EQ(steps, 0);
}

TEST(World, ShutdownResetLetsTheLoopRunAgain) {
  keel::World world = keel::WorldBuilder{}.build();
  int steps = 0;
  world.run([&](keel::World& w) {
    ++steps;
    w.shutdown_handle().request();
  });
  EXPECT_EQ(steps, 1);

  world.resource<keel::Shutdown>().reset();
  EXPECT_FALSE(world.shutdown_handle().requested());
  world.run([&](keel::World& w) {
    if (++steps == 4) w.shutdown_handle().request();
  });
  EXPECT_EQ(steps, 4);
}

// --- World: moves ----------------------------------------------------------------------

TEST(World, MovingAWorldKeepsResourceAndRegistryAddresses) {
  keel::WorldBuilder wb;
  Alpha* alpha = &wb.emplace<Alpha>(1);
  Beta* beta = &wb.insert(Beta{"b"});
  keel::World first = std::move(wb).build();
  const keel::Registry* registry = &first.registry();
  const keel::Shutdown* shutdown = &first.shutdown_handle();
  first.next_sequence();
  auto h = keel::handler(first.registry(), [](keel::ResMut<Alpha> a, int e) { a->value += e; });

  keel::World second(std::move(first));
  EXPECT_EQ(&second.resource<Alpha>(), alpha);
  EXPECT_EQ(&second.resource<Beta>(), beta);
  EXPECT_EQ(&second.registry(), registry);
  EXPECT_EQ(&second.shutdown_handle(), shutdown);
  EXPECT_EQ(second.sequence(), 1u);

  keel::World third = keel::WorldBuilder{}.build();
  third = std::move(second);
  EXPECT_EQ(&third.resource<Alpha>(), alpha);
  EXPECT_EQ(&third.registry(), registry);
  // A handler built against the first World's registry runs on the World it moved into.
  h.run(third, 4);
  EXPECT_EQ(alpha->value, 5);
  EXPECT_EQ(third.resource<Beta>().text, "b");
}

// --- Resource lifetimes ---------------------------------------------------------------

TEST(World, DestroysResourcesInReverseRegistrationOrder) {
  Stats stats;
  {
    keel::WorldBuilder wb;
    wb.emplace<Tracked<1>>(stats, "first");
    wb.emplace<Tracked<2>>(stats, "second");
    wb.emplace<Tracked<3>>(stats, "third");
    wb.emplace<Tracked<4>>(stats, "fourth");
    keel::World world = std::move(wb).build();
    EXPECT_EQ(stats.destroyed, 0);
  }
  EXPECT_EQ(stats.destroyed_names, (std::vector<std::string>{"fourth", "third", "second", "first"}));
  EXPECT_EQ(stats.destroyed, 4);
  EXPECT_EQ(stats.live(), 0);
}

// Builds a handler against the World's registry when destroyed, as a
// reactor context that spawns, or a timer handler that schedules a plain
// function, does from its destructor.
struct BuildsAHandlerWhenDestroyed {
  const keel::Registry* registry = nullptr;
  std::string* outcome = nullptr;
  ~BuildsAHandlerWhenDestroyed() {
    if (registry == nullptr) return;
    try {
      static_cast<void>(keel::handler(*registry, [](keel::Res<Alpha> alpha, int) { static_cast<void>(alpha->value); }));
      *outcome = "built";
    } catch (const keel::ConfigError& error) {
      *outcome = error.what();
    }
  }
};

// The Registry outlives every resource, so a resource's destructor may still
// resolve parameters against it (the resources registered before it are
// still alive).
TEST(World, ResourceDestructorsCanStillResolveParametersAgainstTheRegistry) {
  std::string outcome;
  {
    keel::WorldBuilder wb;
    wb.emplace<Alpha>();
    auto& resolver = wb.emplace<BuildsAHandlerWhenDestroyed>();
    resolver.registry = &wb.registry();
    resolver.outcome = &outcome;
    keel::World world = std::move(wb).build();
  }
  EXPECT_EQ(outcome, "built");
}

TEST(World, DestroysEachResourceExactlyOnceAfterTheWorldIsMoved) {
  Stats stats;
  {
    keel::WorldBuilder wb;
    wb.emplace<Tracked<1>>(stats, "first");
    wb.insert(Tracked<2>(stats, "second"));
    wb.emplace<Tracked<3>>(stats, "third");
    keel::World a = std::move(wb).build();
    keel::World b(std::move(a));
    keel::World c = keel::WorldBuilder{}.build();
    c = std::move(b);
    keel::World d(std::move(c));
    EXPECT_EQ(stats.destroyed_names.size(), 0u);
    EXPECT_EQ(d.resource<Tracked<3>>().name(), "third");
  }
  EXPECT_EQ(stats.destroyed_names, (std::vector<std::string>{"third", "second", "first"}));
  EXPECT_EQ(stats.constructed, 3);
  EXPECT_EQ(stats.live(), 0);
}

TEST(World, MoveAssignmentDestroysTheTargetsOwnResourcesFirst) {
  Stats stats;
  {
    keel::WorldBuilder old_builder;
    old_builder.emplace<Tracked<1>>(stats, "old 1");
    old_builder.emplace<Tracked<2>>(stats, "old 2");
    keel::World target = std::move(old_builder).build();

    keel::WorldBuilder new_builder;
    new_builder.emplace<Tracked<1>>(stats, "new 1");
    keel::World source = std::move(new_builder).build();

    target = std::move(source);
    EXPECT_EQ(stats.destroyed_names, (std::vector<std::string>{"old 2", "old 1"}));
    EXPECT_EQ(target.resource<Tracked<1>>().name(), "new 1");
    EXPECT_EQ(target.try_resource<Tracked<2>>(), nullptr);
  }
  EXPECT_EQ(stats.destroyed_names, (std::vector<std::string>{"old 2", "old 1", "new 1"}));
  EXPECT_EQ(stats.live(), 0);
}

TEST(WorldBuilder, DestroysResourcesOfABuilderThatIsNeverBuilt) {
  Stats stats;
  {
    keel::WorldBuilder wb;
    wb.emplace<Tracked<1>>(stats, "first");
    wb.emplace<Tracked<2>>(stats, "second");
  }
  EXPECT_EQ(stats.destroyed_names, (std::vector<std::string>{"second", "first"}));
  EXPECT_EQ(stats.live(), 0);
}

// A resource whose constructor can be told to throw. It counts the objects
// that completed construction and the destructor calls.
struct Fragile {
  Fragile(Stats& stats, bool fail, int value) : stats_(&stats), value_(value) {
    if (fail) throw std::runtime_error("Fragile refused");
    ++stats_->constructed;
  }
  Fragile(const Fragile&) = delete;
  Fragile& operator=(const Fragile&) = delete;
  ~Fragile() {
    ++stats_->destroyed;
    stats_->destroyed_names.push_back("fragile");
  }
  Stats* stats_;
  int value_;
};

// The same, too large for a shared block and over-aligned.
struct alignas(128) BigFragile {
  BigFragile(Stats& stats, bool fail) : stats_(&stats) {
    bytes_.fill(std::byte{0x5a});
    if (fail) throw std::runtime_error("BigFragile refused");
    ++stats_->constructed;
  }
  BigFragile(const BigFragile&) = delete;
  BigFragile& operator=(const BigFragile&) = delete;
  ~BigFragile() {
    ++stats_->destroyed;
    stats_->destroyed_names.push_back("big fragile");
  }
  Stats* stats_;
  std::array<std::byte, 20 * 1024> bytes_;
};

TEST(WorldBuilder, AResourceWhoseConstructorThrowsIsNeitherRegisteredNorDestroyed) {
  Stats stats;
  {
    keel::WorldBuilder wb;
    Alpha& before = wb.emplace<Alpha>(17);
    EXPECT_THROW(wb.emplace<Fragile>(stats, true, 1), std::runtime_error);
    EXPECT_THROW(wb.emplace<BigFragile>(stats, true), std::runtime_error);
    EXPECT_FALSE(wb.contains<Fragile>());
    EXPECT_FALSE(wb.contains<BigFragile>());
    EXPECT_EQ(wb.registry().size(), 1u);
    EXPECT_EQ(stats.destroyed, 0);

    // The builder is still usable, the same types included.
    Beta& after = wb.insert(Beta{"after"});
    Fragile& fragile = wb.emplace<Fragile>(stats, false, 2);
    BigFragile& big = wb.emplace<BigFragile>(stats, false);
    EXPECT_EQ(before.value, 17);
    EXPECT_EQ(after.text, "after");
    EXPECT_EQ(fragile.value_, 2);
    EXPECT_TRUE(is_aligned(&big, 128));

    keel::World world = std::move(wb).build();
    EXPECT_EQ(world.resource<Alpha>().value, 17);
    EXPECT_EQ(world.resource<Beta>().text, "after");
    EXPECT_EQ(&world.resource<Fragile>(), &fragile);
    EXPECT_EQ(&world.resource<BigFragile>(), &big);
  }
  EXPECT_EQ(stats.constructed, 2);
  EXPECT_EQ(stats.destroyed, 2);
  EXPECT_EQ(stats.destroyed_names, (std::vector<std::string>{"big fragile", "fragile"}));
}

// Registers another resource from inside its constructor, then may throw:
// the inner registration stands, and its storage must not be reused.
struct Inner {
  std::array<std::uint32_t, 16> words;
  Inner() { words.fill(0x1badb002u); }
};
struct Filler {
  std::array<std::uint32_t, 64> words;
  Filler() { words.fill(0xdeadbeefu); }
};
struct Outer {
  Outer(keel::WorldBuilder& wb, bool fail) : inner(&wb.emplace<Inner>()) {
    if (fail) throw std::runtime_error("Outer refused");
  }
  Inner* inner;
};
struct BigOuter {
  BigOuter(keel::WorldBuilder& wb, bool fail) : inner(&wb.emplace<Inner>()) {
    if (fail) throw std::runtime_error("BigOuter refused");
  }
  Inner* inner;
  std::array<std::byte, 32 * 1024> bytes{};
};

bool intact(const Inner& inner) {
  return std::all_of(inner.words.begin(), inner.words.end(), [](std::uint32_t w) { return w == 0x1badb002u; });
}

TEST(WorldBuilder, AConstructorThatRegistersAResourceAndThenThrowsLeavesThatResourceIntact) {
  keel::WorldBuilder wb;
  EXPECT_THROW(wb.emplace<Outer>(wb, true), std::runtime_error);
  ASSERT_TRUE(wb.contains<Inner>());
  EXPECT_FALSE(wb.contains<Outer>());
  Inner& inner = wb.resource<Inner>();
  EXPECT_TRUE(intact(inner));
  Filler& filler = wb.emplace<Filler>();
  EXPECT_TRUE(intact(inner)) << "the next resource was constructed over the inner one";
  const auto* inner_begin = reinterpret_cast<const std::byte*>(&inner);
  const auto* filler_begin = reinterpret_cast<const std::byte*>(&filler);
  EXPECT_TRUE(filler_begin >= inner_begin + sizeof(Inner) || filler_begin + sizeof(Filler) <= inner_begin);
  keel::World world = std::move(wb).build();
  EXPECT_TRUE(intact(world.resource<Inner>()));
}

TEST(WorldBuilder, AnOversizedConstructorThatRegistersAResourceAndThenThrowsLeavesThatResourceIntact) {
  keel::WorldBuilder wb;
  wb.emplace<Alpha>();  // a shared block exists before the oversized attempt
  EXPECT_THROW(wb.emplace<BigOuter>(wb, true), std::runtime_error);
  ASSERT_TRUE(wb.contains<Inner>());
  Inner& inner = wb.resource<Inner>();
  wb.emplace<Filler>();
  EXPECT_TRUE(intact(inner)) << "the next resource was constructed over the inner one";
  keel::World world = std::move(wb).build();
  EXPECT_TRUE(intact(world.resource<Inner>()));
}

TEST(WorldBuilder, AConstructorMayRegisterAnotherResource) {
  keel::WorldBuilder wb;
  Outer& outer = wb.emplace<Outer>(wb, false);
  keel::World world = std::move(wb).build();
  EXPECT_EQ(outer.inner, &world.resource<Inner>());
  EXPECT_TRUE(intact(*outer.inner));
  EXPECT_EQ(world.registry().type_names().front(), "world_test::Inner");
}

// Large and over-aligned resources.
struct OneByte {
  char c = 'x';
};
struct Large {  // 32 KiB: larger than a quarter of a block, gets its own
  std::array<std::uint32_t, 8 * 1024> words;
  Large() {
    for (std::size_t i = 0; i < words.size(); ++i) words[i] = static_cast<std::uint32_t>(i * 2654435761u);
  }
  bool intact() const {
    for (std::size_t i = 0; i < words.size(); ++i)
      if (words[i] != static_cast<std::uint32_t>(i * 2654435761u)) return false;
    return true;
  }
};
struct alignas(128) OverAligned {
  int value = 128;
};
struct alignas(64) CacheLine {
  std::array<std::uint64_t, 8> words{1, 2, 3, 4, 5, 6, 7, 8};
};
struct alignas(4096) PageAligned {
  std::array<std::byte, 17 * 1024> bytes{};
  int tail = 4096;
};

template <class T>
std::pair<std::uintptr_t, std::uintptr_t> extent(const T& object) {
  const auto begin = reinterpret_cast<std::uintptr_t>(&object);
  return {begin, begin + sizeof(T)};
}

TEST(World, LargeAndOverAlignedResourcesGetAlignedStableAddresses) {
  keel::WorldBuilder wb;
  OneByte& one = wb.emplace<OneByte>();
  Large& large = wb.emplace<Large>();
  OverAligned& over = wb.emplace<OverAligned>();
  Alpha& alpha = wb.emplace<Alpha>(3);
  CacheLine& line = wb.emplace<CacheLine>();
  PageAligned& page = wb.emplace<PageAligned>();

  EXPECT_TRUE(is_aligned(&large, alignof(Large)));
  EXPECT_TRUE(is_aligned(&over, 128));
  EXPECT_TRUE(is_aligned(&alpha, alignof(Alpha)));
  EXPECT_TRUE(is_aligned(&line, 64));
  EXPECT_TRUE(is_aligned(&page, 4096));

  std::vector<std::pair<std::uintptr_t, std::uintptr_t>> extents = {
      extent(one), extent(large), extent(over), extent(alpha), extent(line), extent(page)};
  std::sort(extents.begin(), extents.end());
  for (std::size_t i = 1; i < extents.size(); ++i)
    EXPECT_LE(extents[i - 1].second, extents[i].first) << "resources overlap";

  keel::World built = std::move(wb).build();
  keel::World world(std::move(built));
  EXPECT_EQ(&world.resource<OneByte>(), &one);
  EXPECT_EQ(&world.resource<Large>(), &large);
  EXPECT_EQ(&world.resource<OverAligned>(), &over);
  EXPECT_EQ(&world.resource<CacheLine>(), &line);
  EXPECT_EQ(&world.resource<PageAligned>(), &page);
  EXPECT_EQ(one.c, 'x');
  EXPECT_TRUE(large.intact());
  EXPECT_EQ(over.value, 128);
  EXPECT_EQ(alpha.value, 3);
  EXPECT_EQ(line.words[7], 8u);
  EXPECT_EQ(page.tail, 4096);
}

// Twelve 12 KiB resources: below the oversized threshold, so they fill and
// overflow the shared blocks.
template <int N>
struct Slab {
  std::array<std::uint8_t, 12 * 1024> bytes;
  Slab() { bytes.fill(static_cast<std::uint8_t>(N + 1)); }
  bool intact() const {
    return std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b == N + 1; });
  }
};

template <std::size_t... I>
void check_slabs(std::index_sequence<I...>) {
  keel::WorldBuilder wb;
  std::vector<std::pair<std::uintptr_t, std::uintptr_t>> extents;
  (extents.push_back(extent(wb.emplace<Slab<static_cast<int>(I)>>())), ...);
  wb.emplace<OneByte>();
  std::sort(extents.begin(), extents.end());
  for (std::size_t i = 1; i < extents.size(); ++i)
    EXPECT_LE(extents[i - 1].second, extents[i].first) << "resources overlap";
  keel::World world = std::move(wb).build();
  ([&] { EXPECT_TRUE(world.resource<Slab<static_cast<int>(I)>>().intact()) << "slab " << I; }(), ...);
}

TEST(World, ResourcesSpanningSeveralBlocksStayIntact) { check_slabs(std::make_index_sequence<12>{}); }

}  // namespace world_test
