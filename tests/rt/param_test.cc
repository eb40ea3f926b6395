// Tests for rt/param.h: the built-in parameters (Res, ResMut, Opt, Local,
// Seq, RegistryRef), the keel::Param concept, a user-defined parameter, and
// the ConfigError a missing resource produces when a handler is built.
#include "rt/param.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "rt/error.h"
#include "rt/handler.h"
#include "rt/registry.h"
#include "rt/world.h"
#include "tests/rt/fixtures.h"

namespace param_test {

using keel_test::config_error_message;
using keel_test::Contains;

struct Book {
  int orders = 0;
};
struct Limits {
  int max_qty = 0;
};
struct Quote {
  int qty = 0;
};
struct Missing {};

// --- a user-defined parameter ----------------------------------------------------

// A clock resource the application advances.
struct ManualClock {
  std::int64_t now_ns = 0;
};

// `Now`: the clock's reading at dispatch, without handing out the clock.
// Resolved once at build (a missing clock is a ConfigError); one load per event.
class Now {
 public:
  using State = const ManualClock*;
  using Access = keel::Reads<ManualClock>;
  static State init(const keel::Registry& registry) { return &registry.resolve<ManualClock>(); }
  static Now fetch(keel::World&, State& clock) noexcept { return Now(clock->now_ns); }

  std::int64_t ns() const noexcept { return ns_; }

 private:
  explicit Now(std::int64_t ns) noexcept : ns_(ns) {}
  std::int64_t ns_;
};

// `Calls<Tag>`: per-handler state of its own (how many times this handler
// instance ran), touching no resource.
template <class Tag>
class Calls {
 public:
  using State = std::uint64_t;
  using Access = keel::AccessList<>;
  static State init(const keel::Registry&) noexcept { return 0; }
  static Calls fetch(keel::World&, State& count) noexcept { return Calls(++count); }

  std::uint64_t count() const noexcept { return count_; }

 private:
  explicit Calls(std::uint64_t count) noexcept : count_(count) {}
  std::uint64_t count_;
};
struct QuoteTag {};

// Almost-parameters the concept must reject.
struct FetchReturnsTheWrongType {
  struct State {};
  static State init(const keel::Registry&) { return {}; }
  static int fetch(keel::World&, State&) { return 0; }
};
struct NoInit {
  struct State {};
  static NoInit fetch(keel::World&, State&) { return {}; }
};
struct NoState {
  static int init(const keel::Registry&) { return 0; }
  static NoState fetch(keel::World&, int&) { return {}; }
};

// --- compile-time facts ------------------------------------------------------------

static_assert(keel::Param<keel::Res<Book>>);
static_assert(keel::Param<keel::ResMut<Book>>);
static_assert(keel::Param<keel::Opt<keel::Res<Book>>>);
static_assert(keel::Param<keel::Opt<keel::ResMut<Book>>>);
static_assert(keel::Param<keel::Local<int>>);
static_assert(keel::Param<keel::Local<std::vector<std::string>>>);
static_assert(keel::Param<keel::Seq>);
static_assert(keel::Param<keel::RegistryRef>);
static_assert(keel::Param<Now>);
static_assert(keel::Param<Calls<QuoteTag>>);

static_assert(!keel::Param<int>);
static_assert(!keel::Param<Quote>);
static_assert(!keel::Param<std::string>);
static_assert(!keel::Param<const Quote&>);
static_assert(!keel::Param<FetchReturnsTheWrongType>);
static_assert(!keel::Param<NoInit>);
static_assert(!keel::Param<NoState>);

// What each parameter gives the function.
static_assert(std::is_same_v<decltype(*std::declval<keel::Res<Book>>()), const Book&>);
static_assert(std::is_same_v<decltype(std::declval<keel::Res<Book>>().operator->()), const Book*>);
static_assert(std::is_same_v<decltype(*std::declval<keel::ResMut<Book>>()), Book&>);
static_assert(std::is_same_v<decltype(std::declval<keel::ResMut<Book>>().operator->()), Book*>);
static_assert(std::is_same_v<decltype(*std::declval<keel::Opt<keel::Res<Book>>>()), const Book&>);
static_assert(std::is_same_v<decltype(*std::declval<keel::Opt<keel::ResMut<Book>>>()), Book&>);
static_assert(std::is_same_v<decltype(*std::declval<keel::Local<int>>()), int&>);
static_assert(std::is_same_v<decltype(std::declval<keel::Seq>().value()), std::uint64_t>);
static_assert(std::is_same_v<decltype(*std::declval<keel::RegistryRef>()), const keel::Registry&>);
// Opt tests explicitly, never by accident.
static_assert(std::is_constructible_v<bool, keel::Opt<keel::Res<Book>>>);
static_assert(!std::is_convertible_v<keel::Opt<keel::Res<Book>>, bool>);

// Access declarations, read by the aliasing check.
static_assert(std::is_same_v<keel::Res<Book>::Access, keel::Reads<Book>>);
static_assert(std::is_same_v<keel::ResMut<Book>::Access, keel::Writes<Book>>);
static_assert(std::is_same_v<keel::Opt<keel::Res<Book>>::Access, keel::Reads<Book>>);
static_assert(std::is_same_v<keel::Opt<keel::ResMut<Book>>::Access, keel::Writes<Book>>);

// Dispatch-time access is one load: a resource parameter is a pointer.
static_assert(sizeof(keel::Res<Book>) == sizeof(void*));
static_assert(sizeof(keel::ResMut<Book>) == sizeof(void*));

// --- Res / ResMut ---------------------------------------------------------------------

keel::World book_and_limits_world() {
  keel::WorldBuilder wb;
  wb.emplace<Book>();
  wb.insert(Limits{.max_qty = 10});
  return std::move(wb).build();
}

// External linkage, so that the handler is named after it.
void on_quote(keel::ResMut<Book> book, keel::Res<Limits> limits, const Quote& quote) {
  if (quote.qty <= limits->max_qty) book->orders += quote.qty;
}

TEST(Res, ReadsTheResourceAndResMutWritesIt) {
  keel::World world = book_and_limits_world();
  auto h = keel::handler(world.registry(), on_quote);
  h.run(world, Quote{.qty = 4});
  h.run(world, Quote{.qty = 11});  // over the limit read through Res<Limits>
  h.run(world, Quote{.qty = 5});
  EXPECT_EQ(world.resource<Book>().orders, 9);
}

TEST(Res, SeesChangesMadeAfterTheHandlerWasBuilt) {
  keel::World world = book_and_limits_world();
  auto h = keel::handler(world.registry(), on_quote);
  world.resource<Limits>().max_qty = 100;
  h.run(world, Quote{.qty = 50});
  EXPECT_EQ(world.resource<Book>().orders, 50);
}

TEST(Res, ReachesTheSameObjectAsWorldResource) {
  keel::World world = book_and_limits_world();
  const Book* seen_by_res = nullptr;
  Book* seen_by_res_mut = nullptr;
  auto h = keel::handler(world.registry(), [&](keel::Res<Book> r, keel::Res<Limits> l, int) {
    seen_by_res = &*r;
    EXPECT_EQ(&r.get(), r.operator->());
    EXPECT_EQ(l->max_qty, 10);
  });
  auto m = keel::handler(world.registry(), [&](keel::ResMut<Book> w, int) {
    seen_by_res_mut = w.operator->();
    EXPECT_EQ(&w.get(), &*w);
  });
  h.run(world, 0);
  m.run(world, 0);
  EXPECT_EQ(seen_by_res, &world.resource<Book>());
  EXPECT_EQ(seen_by_res_mut, &world.resource<Book>());
}

TEST(ResMut, WritesAreVisibleToAnotherHandlersRes) {
  keel::World world = book_and_limits_world();
  auto writer = keel::handler(world.registry(), [](keel::ResMut<Book> b, int e) { b->orders = e; });
  int read = -1;
  auto reader = keel::handler(world.registry(), [&read](keel::Res<Book> b, int) { read = b->orders; });
  writer.run(world, 77);
  reader.run(world, 0);
  EXPECT_EQ(read, 77);
}

// --- missing resources at build time ----------------------------------------------------

TEST(Res, MissingResourceAtHandlerBuildNamesTheResourceAndTheHandler) {
  keel::WorldBuilder wb;
  wb.emplace<Book>();  // no Limits
  keel::World world = std::move(wb).build();
  const std::string message = config_error_message([&] { (void)keel::handler(world.registry(), on_quote); });
  EXPECT_TRUE(Contains(message, "param_test::Limits"));
  EXPECT_TRUE(Contains(message, "on_quote"));
  EXPECT_TRUE(message.starts_with("keel: ")) << message;
}

TEST(ResMut, MissingResourceAtHandlerBuildNamesTheResourceAndTheHandler) {
  keel::WorldBuilder wb;
  wb.emplace<Limits>();  // no Book
  keel::World world = std::move(wb).build();
  const std::string by_function = config_error_message([&] { (void)keel::handler(world.registry(), on_quote); });
  EXPECT_TRUE(Contains(by_function, "param_test::Book"));
  EXPECT_TRUE(Contains(by_function, "on_quote"));

  const std::string by_fn_value =
      config_error_message([&] { (void)keel::handler(world.registry(), keel::fn<&on_quote>); });
  EXPECT_TRUE(Contains(by_fn_value, "param_test::Book"));
  EXPECT_TRUE(Contains(by_fn_value, "on_quote"));
}

TEST(Res, MissingResourceInALambdaHandlerNamesTheLambdasSite) {
  keel::World world = book_and_limits_world();
  const std::string message = config_error_message(
      [&] { (void)keel::handler(world.registry(), [](keel::Res<Missing>, int) {}); });
  EXPECT_TRUE(Contains(message, "param_test::Missing"));
  EXPECT_TRUE(Contains(message, "lambda at param_test.cc:"));
}

TEST(Res, TheFirstMissingParameterIsTheOneReported) {
  keel::WorldBuilder wb;
  keel::World world = std::move(wb).build();
  const std::string message = config_error_message([&] { (void)keel::handler(world.registry(), on_quote); });
  EXPECT_TRUE(Contains(message, "param_test::Book"));
  EXPECT_FALSE(Contains(message, "param_test::Limits"));
}

// --- Opt --------------------------------------------------------------------------------

TEST(Opt, ResIsPresentWhenTheResourceIsRegistered) {
  keel::World world = book_and_limits_world();
  world.resource<Book>().orders = 3;
  bool present = false;
  int orders = 0;
  auto h = keel::handler(world.registry(), [&](keel::Opt<keel::Res<Book>> book, int) {
    present = static_cast<bool>(book);
    if (book) orders = book->orders;
    EXPECT_EQ(book.get(), &*book);
  });
  h.run(world, 0);
  EXPECT_TRUE(present);
  EXPECT_EQ(orders, 3);
}

TEST(Opt, ResIsEmptyWhenTheResourceIsAbsentAndBuildingDoesNotFail) {
  keel::World world = book_and_limits_world();
  bool present = true;
  const Missing sentinel;
  const Missing* address = &sentinel;
  auto h = keel::handler(world.registry(), [&](keel::Opt<keel::Res<Missing>> missing, int) {
    present = static_cast<bool>(missing);
    address = missing.get();
  });
  h.run(world, 0);
  EXPECT_FALSE(present);
  EXPECT_EQ(address, nullptr);
}

TEST(Opt, ResMutIsPresentAndWritesThrough) {
  keel::World world = book_and_limits_world();
  auto h = keel::handler(world.registry(), [](keel::Opt<keel::ResMut<Book>> book, int e) {
    if (book) book->orders += e;
  });
  h.run(world, 4);
  h.run(world, 5);
  EXPECT_EQ(world.resource<Book>().orders, 9);
}

TEST(Opt, ResMutIsEmptyWhenTheResourceIsAbsent) {
  keel::World world = book_and_limits_world();
  int runs = 0;
  bool present = true;
  auto h = keel::handler(world.registry(), [&](keel::Opt<keel::ResMut<Missing>> missing, int) {
    ++runs;
    present = static_cast<bool>(missing);
    EXPECT_EQ(missing.get(), nullptr);
  });
  h.run(world, 0);
  EXPECT_EQ(runs, 1);
  EXPECT_FALSE(present);
}

// --- Local -------------------------------------------------------------------------------

struct Seen {
  std::vector<std::pair<int, int>> calls;  // (event, Local's value after the increment)
};

void tally(keel::Local<int> count, keel::ResMut<Seen> seen, int event) {
  ++*count;
  seen->calls.emplace_back(event, *count);
}

keel::World seen_world() {
  keel::WorldBuilder wb;
  wb.emplace<Seen>();
  return std::move(wb).build();
}

TEST(Local, TwoHandlersFromTheSameFunctionHaveIndependentLocals) {
  keel::World world = seen_world();
  auto first = keel::handler(world.registry(), tally);
  auto second = keel::handler(world.registry(), tally);
  first.run(world, 1);
  first.run(world, 1);
  second.run(world, 2);
  first.run(world, 1);
  second.run(world, 2);
  const std::vector<std::pair<int, int>> expected = {{1, 1}, {1, 2}, {2, 1}, {1, 3}, {2, 2}};
  EXPECT_EQ(world.resource<Seen>().calls, expected);
}

TEST(Local, TwoHandlersFromOneLambdaObjectHaveIndependentLocals) {
  keel::World world = seen_world();
  const auto fn = [](keel::Local<int> count, keel::ResMut<Seen> seen, int event) {
    *count += 10;
    seen->calls.emplace_back(event, *count);
  };
  auto first = keel::handler(world.registry(), fn);
  auto second = keel::handler(world.registry(), fn);
  first.run(world, 1);
  second.run(world, 2);
  first.run(world, 1);
  const std::vector<std::pair<int, int>> expected = {{1, 10}, {2, 10}, {1, 20}};
  EXPECT_EQ(world.resource<Seen>().calls, expected);
}

TEST(Local, TwoLocalsOfOneHandlerAreDistinct) {
  keel::World world = seen_world();
  auto h = keel::handler(world.registry(), [](keel::Local<int> a, keel::Local<int> b, keel::ResMut<Seen> s, int) {
    EXPECT_NE(&*a, &*b);
    *a += 1;
    *b += 100;
    s->calls.emplace_back(*a, *b);
  });
  h.run(world, 0);
  h.run(world, 0);
  const std::vector<std::pair<int, int>> expected = {{1, 100}, {2, 200}};
  EXPECT_EQ(world.resource<Seen>().calls, expected);
}

struct Plain {
  int count;
  double sum;
  const char* label;
};

TEST(Local, StartsValueInitialized) {
  keel::World world = seen_world();
  Plain first_seen{-1, -1.0, "unset"};
  std::string text = "unset";
  auto h = keel::handler(world.registry(), [&](keel::Local<Plain> plain, keel::Local<std::string> s, int) {
    first_seen = *plain;
    text = *s;
    plain->count = 5;
  });
  h.run(world, 0);
  EXPECT_EQ(first_seen.count, 0);
  EXPECT_EQ(first_seen.sum, 0.0);
  EXPECT_EQ(first_seen.label, nullptr);
  EXPECT_EQ(text, "");
  h.run(world, 0);
  EXPECT_EQ(first_seen.count, 5);  // and it persists between events
}

TEST(Local, PersistsWhenTheHandlerIsMoved) {
  keel::World world = seen_world();
  auto h = keel::handler(world.registry(), tally);
  h.run(world, 1);
  auto moved = std::move(h);
  moved.run(world, 1);
  const std::vector<std::pair<int, int>> expected = {{1, 1}, {1, 2}};
  EXPECT_EQ(world.resource<Seen>().calls, expected);
}

// --- Seq ----------------------------------------------------------------------------------

TEST(Seq, ReflectsTheWorldsSequenceForTheCurrentEvent) {
  keel::World world = seen_world();
  std::vector<std::uint64_t> seen;
  auto h = keel::handler(world.registry(), [&seen](keel::Seq seq, int) {
    EXPECT_EQ(*seq, seq.value());
    seen.push_back(seq);  // implicit conversion
  });
  h.run(world, 0);
  world.next_sequence();
  world.next_sequence();
  h.run(world, 0);
  h.run(world, 0);  // same event sequence until a driver advances it
  world.next_sequence();
  h.run(world, 0);
  EXPECT_EQ(seen, (std::vector<std::uint64_t>{0, 2, 2, 3}));
}

// --- RegistryRef ---------------------------------------------------------------------------

struct Later {
  std::unique_ptr<keel::Handler<int>> handler;
  const keel::Registry* seen = nullptr;
};

TEST(RegistryRef, GivesTheWorldsRegistryForBuildingHandlersAtRunTime) {
  keel::WorldBuilder wb;
  wb.emplace<Book>();
  wb.emplace<Later>();
  keel::World world = std::move(wb).build();

  auto builder = keel::handler(world.registry(), [](keel::RegistryRef registry, keel::ResMut<Later> later, int) {
    later->seen = &*registry;
    const keel::Registry& by_conversion = registry;
    EXPECT_EQ(&by_conversion, registry.operator->());
    EXPECT_TRUE(registry->contains<Book>());
    later->handler = keel::boxed(keel::handler(*registry, [](keel::ResMut<Book> b, int e) { b->orders += e; }));
  });
  builder.run(world, 0);
  EXPECT_EQ(world.resource<Later>().seen, &world.registry());
  ASSERT_NE(world.resource<Later>().handler, nullptr);
  world.resource<Later>().handler->run(world, 8);
  EXPECT_EQ(world.resource<Book>().orders, 8);
}

// --- the user-defined parameters in a handler ------------------------------------------------

struct Stamps {
  std::vector<std::pair<std::int64_t, std::uint64_t>> entries;  // (Now, Calls)
};

void stamp(Now now, Calls<QuoteTag> calls, keel::Res<ManualClock> clock, keel::ResMut<Stamps> stamps,
           const Quote&) {
  EXPECT_EQ(now.ns(), clock->now_ns);  // Reads + Reads of one resource is allowed
  stamps->entries.emplace_back(now.ns(), calls.count());
}

TEST(Param, AUserDefinedParameterIsResolvedOnceAndFetchedPerEvent) {
  keel::WorldBuilder wb;
  wb.emplace<ManualClock>();
  wb.emplace<Stamps>();
  keel::World world = std::move(wb).build();
  auto first = keel::handler(world.registry(), stamp);
  auto second = keel::handler(world.registry(), stamp);

  world.resource<ManualClock>().now_ns = 1000;
  first.run(world, Quote{});
  world.resource<ManualClock>().now_ns = 2500;
  first.run(world, Quote{});
  second.run(world, Quote{});

  const std::vector<std::pair<std::int64_t, std::uint64_t>> expected = {{1000, 1}, {2500, 2}, {2500, 1}};
  EXPECT_EQ(world.resource<Stamps>().entries, expected);
}

TEST(Param, AUserDefinedParameterWorksInRunStartup) {
  keel::WorldBuilder wb;
  wb.insert(ManualClock{.now_ns = 42});
  keel::World world = std::move(wb).build();
  EXPECT_EQ(world.run_startup([](Now now) { return now.ns(); }), 42);
}

TEST(Param, AUserDefinedParameterMissingItsResourceNamesItAndTheHandler) {
  keel::WorldBuilder wb;
  wb.emplace<Stamps>();  // no ManualClock
  keel::World world = std::move(wb).build();
  const std::string message = config_error_message([&] { (void)keel::handler(world.registry(), stamp); });
  EXPECT_TRUE(Contains(message, "param_test::ManualClock"));
  EXPECT_TRUE(Contains(message, "param_test::stamp"));
}

}  // namespace param_test
