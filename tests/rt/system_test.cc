// Tests for rt/system.h: keel::system() and keel::System.
#include "rt/system.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "rt/error.h"
#include "rt/param.h"
#include "rt/world.h"
#include "tests/rt/fixtures.h"

// Test types live in a named namespace so that functions mentioning them
// keep external linkage, and so their names come from the symbol table.
namespace system_test {

struct Book {
  int bid = 100;
  int ask = 102;
};
struct Mid {
  int value = 0;
  int writes = 0;
};
struct Counter {
  int runs = 0;
};
struct Missing {};

}  // namespace system_test

using keel_test::config_error_message;
using keel_test::Contains;
using keel_test::InitCounter;
using system_test::Book;
using system_test::Counter;
using system_test::Mid;
using system_test::Missing;

// Named "update_mid" from the binary's symbol table.
bool update_mid(keel::Res<Book> book, keel::ResMut<Mid> mid) {
  const int m = (book->bid + book->ask) / 2;
  if (m == mid->value) return false;
  mid->value = m;
  ++mid->writes;
  return true;
}

void count_runs(keel::ResMut<Counter> counter) { ++counter->runs; }

bool needs_missing(keel::Res<Missing>, keel::ResMut<Counter> counter) {
  ++counter->runs;
  return true;
}

namespace {

keel::World make_world() { return keel_test::world_with(Book{}, Mid{}, Counter{}); }

TEST(System, BoolSystemReportsWhatTheFunctionReturns) {
  keel::World world = make_world();
  auto s = keel::system(world.registry(), update_mid);
  static_assert(std::is_same_v<decltype(s.run(world)), bool>);

  EXPECT_TRUE(s.run(world));   // 0 -> 101
  EXPECT_FALSE(s.run(world));  // unchanged
  world.resource<Book>().ask = 104;
  EXPECT_TRUE(s.run(world));  // 101 -> 102
  EXPECT_EQ(world.resource<Mid>().value, 102);
  EXPECT_EQ(world.resource<Mid>().writes, 2);
}

TEST(System, VoidSystemAlwaysReportsChanged) {
  keel::World world = make_world();
  auto s = keel::system(world.registry(), count_runs);
  EXPECT_TRUE(s.run(world));
  EXPECT_TRUE(s.run(world));
  EXPECT_EQ(world.resource<Counter>().runs, 2);
}

TEST(System, IsNamedAfterItsFunctionOrItsLambdaSite) {
  keel::World world = make_world();
  EXPECT_EQ(keel::system(world.registry(), update_mid).name(), "update_mid");
  EXPECT_EQ(keel::system(world.registry(), keel::fn<&count_runs>).name(), "count_runs");
  const int line = __LINE__ + 1;
  auto lambda = keel::system(world.registry(), [](keel::ResMut<Counter> c) { ++c->runs; });
  EXPECT_EQ(lambda.name(), "lambda at system_test.cc:" + std::to_string(line));
}

TEST(System, ResolvesParametersOnceNotOnEachRun) {
  keel::World world = make_world();
  InitCounter::inits = 0;
  auto s = keel::system(world.registry(), [](InitCounter, keel::ResMut<Counter> c) { ++c->runs; });
  EXPECT_EQ(InitCounter::inits, 1);
  for (int i = 0; i < 5; ++i) s.run(world);
  EXPECT_EQ(InitCounter::inits, 1);
  EXPECT_EQ(world.resource<Counter>().runs, 5);
}

TEST(System, MissingResourceThrowsConfigErrorNamingTheResourceAndTheSystem) {
  keel::World world = make_world();
  const std::string message = config_error_message([&] { (void)keel::system(world.registry(), needs_missing); });
  EXPECT_TRUE(Contains(message, "system_test::Missing"));
  EXPECT_TRUE(Contains(message, "needs_missing"));
}

TEST(System, OptionalResourceMayBeAbsent) {
  keel::World world = make_world();
  auto s =
      keel::system(world.registry(), [](keel::Opt<keel::Res<Missing>> missing, keel::Opt<keel::ResMut<Counter>> c) {
        if (c) ++(*c).runs;
        return static_cast<bool>(missing);
      });
  EXPECT_FALSE(s.run(world));
  EXPECT_EQ(world.resource<Counter>().runs, 1);
}

TEST(System, LocalStateBelongsToOneSystemAndPersistsAcrossRuns) {
  keel::World world = make_world();
  auto every_third = [](keel::Local<int> calls) { return ++*calls % 3 == 0; };
  auto a = keel::system(world.registry(), every_third);
  auto b = keel::system(world.registry(), every_third);
  EXPECT_FALSE(a.run(world));
  EXPECT_FALSE(a.run(world));
  EXPECT_FALSE(b.run(world));  // b counts on its own
  EXPECT_TRUE(a.run(world));
  EXPECT_FALSE(b.run(world));
  EXPECT_TRUE(b.run(world));
}

TEST(System, CapturingLambdaKeepsItsCapture) {
  keel::World world = make_world();
  int threshold = 101;
  auto s =
      keel::system(world.registry(), [threshold](keel::Res<Book> b) { return (b->bid + b->ask) / 2 >= threshold; });
  EXPECT_TRUE(s.run(world));
  world.resource<Book>().bid = 90;
  EXPECT_FALSE(s.run(world));
}

TEST(System, SeesTheCurrentSequenceNumber) {
  keel::World world = make_world();
  std::uint64_t seen = 0;
  auto s = keel::system(world.registry(), [&seen](keel::Seq seq) { seen = seq.value(); });
  world.next_sequence();
  world.next_sequence();
  s.run(world);
  EXPECT_EQ(seen, 2u);
}

TEST(System, RunningOnAnotherWorldThrowsConfigError) {
  if (!keel::internal::kCheckWorld) GTEST_SKIP() << "the wrong-World check is compiled out (NDEBUG)";
  keel::World built_against = make_world();
  keel::World other = make_world();
  auto s = keel::system(built_against.registry(), count_runs);
  EXPECT_THROW(s.run(other), keel::ConfigError);
  EXPECT_EQ(other.resource<Counter>().runs, 0);
  EXPECT_EQ(built_against.resource<Counter>().runs, 0);
}

TEST(System, ExceptionFromTheFunctionPropagatesAndTheSystemRunsAgain) {
  keel::World world = make_world();
  auto s = keel::system(world.registry(), [](keel::ResMut<Counter> c) {
    if (++c->runs == 1) throw std::runtime_error("first run fails");
    return true;
  });
  EXPECT_THROW(s.run(world), std::runtime_error);
  EXPECT_TRUE(s.run(world));
  EXPECT_EQ(world.resource<Counter>().runs, 2);
}

TEST(System, CopyStartsFromTheOriginalsLocalValue) {
  keel::World world = make_world();
  auto original = keel::system(world.registry(), [](keel::Local<int> n) { return ++*n == 2; });
  EXPECT_FALSE(original.run(world));  // n = 1
  auto copy = original;
  EXPECT_TRUE(copy.run(world));      // copy's n = 2
  EXPECT_TRUE(original.run(world));  // original's n = 2, untouched by the copy
}

}  // namespace
