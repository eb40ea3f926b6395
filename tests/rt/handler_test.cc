// Tests for rt/handler.h: keel::handler(), keel::fn, keel::boxed(),
// keel::Handler<E> and keel::HandlerTemplate.
#include "rt/handler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "rt/error.h"
#include "rt/param.h"
#include "rt/world.h"
#include "tests/rt/fixtures.h"
#include "tests/rt/tracking.h"

// Test types live in a named namespace, so that the type names in the error
// messages the tests check are spelled without '{anonymous}::'.
namespace handler_test {

struct Book {
  int qty = 0;
  int updates = 0;
};
struct Limits {
  int max_qty = 100;
};
struct Quote {
  int qty = 0;
};
struct Missing {};

struct [[nodiscard]] MustUse {
  int value;
};

// The fn<&f> test's function: its qualified name is the handler's name.
void apply_quote(keel::ResMut<Book> book, const Quote& q) {
  book->qty += 2 * q.qty;
  ++book->updates;
}

}  // namespace handler_test

using handler_test::Book;
using handler_test::Limits;
using handler_test::Missing;
using handler_test::MustUse;
using handler_test::Quote;
using keel_test::config_error_message;
using keel_test::Contains;
using keel_test::Counts;
using keel_test::InitCounter;
using keel_test::Tracked;

// External linkage, global namespace: named "on_quote" from the symbol table.
void on_quote(keel::ResMut<Book> book, keel::Res<Limits> lim, const Quote& q) {
  book->qty += std::min(q.qty, lim->max_qty);
  ++book->updates;
}

// Needs a resource no test World registers.
void on_quote_needing_missing(keel::Res<Missing>, keel::ResMut<Book> book, const Quote& q) { book->qty -= q.qty; }

// Internal linkage: in the binary's symbol table, not in the dynamic one.
// Their bodies differ from every other function so that identical-code
// folding cannot give them another function's address (and name).
namespace {
void hidden_on_quote(keel::ResMut<Book> book, const Quote& q) { book->qty += 3 * q.qty + 1; }
}  // namespace
static void static_on_quote(keel::ResMut<Book> book, const Quote& q) { book->qty += 5 * q.qty + 7; }

namespace handler_test {
template <int Scale>
void scaled_on_quote(keel::ResMut<Book> book, const Quote& q) {
  book->qty += Scale * q.qty + 11;
}
}  // namespace handler_test

namespace {

keel::World make_world(int max_qty = 100) { return keel_test::world_with(Book{}, Limits{.max_qty = max_qty}); }

std::string site(int line) { return "handler_test.cc:" + std::to_string(line); }

// ---------------------------------------------------------------------------
// Kinds of callables

TEST(Handler, RunsNamedFunctionWithResolvedResources) {
  keel::World world = make_world(/*max_qty=*/50);
  auto h = keel::handler(world.registry(), on_quote);

  h.run(world, Quote{.qty = 30});
  EXPECT_EQ(world.resource<Book>().qty, 30);
  h.run(world, Quote{.qty = 80});  // capped by Res<Limits>
  EXPECT_EQ(world.resource<Book>().qty, 80);
  EXPECT_EQ(world.resource<Book>().updates, 2);
}

TEST(Handler, RunsFunctionPointer) {
  keel::World world = make_world();
  void (*fp)(keel::ResMut<Book>, keel::Res<Limits>, const Quote&) = &on_quote;
  auto h = keel::handler(world.registry(), fp);

  h.run(world, Quote{.qty = 7});
  EXPECT_EQ(world.resource<Book>().qty, 7);
  EXPECT_EQ(h.name(), "on_quote");

  auto direct = keel::handler(world.registry(), &on_quote);
  direct.run(world, Quote{.qty = 1});
  EXPECT_EQ(world.resource<Book>().qty, 8);
}

TEST(Handler, RunsFnValueAndNamesItWithItsQualifiedName) {
  keel::World world = make_world();
  auto h = keel::handler(world.registry(), keel::fn<&handler_test::apply_quote>);

  h.run(world, Quote{.qty = 4});
  EXPECT_EQ(world.resource<Book>().qty, 8);
  EXPECT_EQ(h.name(), "handler_test::apply_quote");

  auto global = keel::handler(world.registry(), keel::fn<&on_quote>);
  EXPECT_EQ(global.name(), "on_quote");
}

TEST(Handler, RunsNonCapturingLambda) {
  keel::World world = make_world();
  auto h = keel::handler(world.registry(), [](keel::ResMut<Book> book, int e) { book->qty += e; });

  h.run(world, 5);
  h.run(world, 6);
  EXPECT_EQ(world.resource<Book>().qty, 11);
}

TEST(Handler, RunsLambdaCapturingByValue) {
  keel::World world = make_world();
  int factor = 3;
  auto h = keel::handler(world.registry(), [factor](keel::ResMut<Book> book, int e) { book->qty += factor * e; });
  factor = 1000;  // the handler holds its own copy

  h.run(world, 2);
  EXPECT_EQ(world.resource<Book>().qty, 6);
}

TEST(Handler, RunsLambdaCapturingByReference) {
  keel::World world = make_world();
  std::vector<int> seen;
  int factor = 3;
  auto h = keel::handler(world.registry(), [&seen, &factor](keel::Res<Limits> lim, int e) {
    seen.push_back(e * factor + lim->max_qty);
  });

  h.run(world, 1);
  factor = 10;  // visible: captured by reference
  h.run(world, 2);
  EXPECT_EQ(seen, (std::vector<int>{103, 120}));
}

TEST(Handler, MutableLambdaKeepsItsStateAcrossRuns) {
  keel::World world = make_world();
  auto h = keel::handler(world.registry(), [total = 0](keel::ResMut<Book> book, int e) mutable {
    total += e;
    book->qty = total;
  });

  h.run(world, 1);
  h.run(world, 2);
  h.run(world, 3);
  EXPECT_EQ(world.resource<Book>().qty, 6);

  // The state travels with the handler when it is moved (here, boxed).
  auto box = keel::boxed(std::move(h));
  box->run(world, 4);
  EXPECT_EQ(world.resource<Book>().qty, 10);
}

TEST(Handler, RunsFunctionTakingOnlyTheEvent) {
  keel::World world = make_world();
  int sum = 0;
  auto h = keel::handler(world.registry(), [&sum](int e) { sum += e; });
  h.run(world, 9);
  EXPECT_EQ(sum, 9);
}

// ---------------------------------------------------------------------------
// How the event is passed

TEST(Handler, TakesEventByValueWithoutCopyingAnRvalue) {
  keel::World world = make_world();
  int received = 0;
  auto h = keel::handler(world.registry(), [&received](Tracked e) { received = e.value; });
  static_assert(std::is_same_v<decltype(h)::event_type, Tracked>);

  Counts counts;
  h.run(world, Tracked(counts, 42));
  EXPECT_EQ(received, 42);
  EXPECT_EQ(counts.copies, 0);

  // An lvalue is copied once, into run()'s by-value parameter, and no more.
  Tracked kept(counts, 7);
  h.run(world, kept);
  EXPECT_EQ(received, 7);
  EXPECT_EQ(counts.copies, 1);
  EXPECT_FALSE(kept.moved_from());
}

TEST(Handler, TakesEventByConstReferenceWithoutCopyingOrMoving) {
  keel::World world = make_world();
  const Tracked* seen = nullptr;
  auto h = keel::handler(world.registry(), [&seen](const Tracked& e) { seen = &e; });
  static_assert(std::is_same_v<decltype(h)::event_type, const Tracked&>);

  Counts counts;
  const Tracked event(counts, 1);
  h.run(world, event);
  EXPECT_EQ(seen, &event);  // the caller's object itself
  EXPECT_EQ(counts.copies, 0);
  EXPECT_EQ(counts.moves, 0);
}

TEST(Handler, TakesEventByRvalueReferenceSoTheFunctionCanMoveFromIt) {
  keel::World world = make_world();
  Counts counts;  // outlives `sink`
  std::optional<Tracked> sink;
  auto h = keel::handler(world.registry(), [&sink](Tracked&& e) { sink.emplace(std::move(e)); });
  static_assert(std::is_same_v<decltype(h)::event_type, Tracked&&>);

  Tracked event(counts, 5);
  h.run(world, std::move(event));
  ASSERT_TRUE(sink.has_value());
  EXPECT_EQ(sink->value, 5);
  EXPECT_TRUE(event.moved_from());  // NOLINT(bugprone-use-after-move): the point of the test
  EXPECT_EQ(counts.copies, 0);
  EXPECT_EQ(counts.moves, 1);  // only the function's own move
}

// ---------------------------------------------------------------------------
// Names

TEST(Handler, NamesExternalFunctionFromSymbolTable) {
  keel::World world = make_world();
  EXPECT_EQ(keel::handler(world.registry(), on_quote).name(), "on_quote");
}

TEST(Handler, NamesInternalLinkageFunctionsAfterTheFunction) {
  keel::World world = make_world();
  auto hidden = keel::handler(world.registry(), hidden_on_quote);
  auto stat = keel::handler(world.registry(), static_on_quote);

  EXPECT_EQ(hidden.name(), "{anonymous}::hidden_on_quote");
  EXPECT_EQ(stat.name(), "static_on_quote");

  // They still run.
  hidden.run(world, Quote{.qty = 1});
  stat.run(world, Quote{.qty = 1});
  EXPECT_EQ(world.resource<Book>().qty, 4 + 12);
}

// The binary's symbol table names a template instance without its
// arguments; keel::fn<&f> has them from the compiler.
TEST(Handler, NamesFunctionTemplateInstanceWithoutItsArguments) {
  keel::World world = make_world();
  auto scaled = keel::handler(world.registry(), handler_test::scaled_on_quote<2>);
  EXPECT_EQ(scaled.name(), "handler_test::scaled_on_quote<>");
  EXPECT_EQ(keel::handler(world.registry(), keel::fn<&handler_test::scaled_on_quote<2>>).name(),
            "handler_test::scaled_on_quote<2>");
  scaled.run(world, Quote{.qty = 1});
  EXPECT_EQ(world.resource<Book>().qty, 13);
}

TEST(Handler, NamesLambdasByTheirSite) {
  keel::World world = make_world();
  int captured = 0;
  const int plain_line = __LINE__ + 1;
  auto plain = keel::handler(world.registry(), [](keel::ResMut<Book>, int) {});
  const int capturing_line = __LINE__ + 1;
  auto capturing = keel::handler(world.registry(), [&captured](int e) { captured = e; });

  EXPECT_EQ(plain.name(), "lambda at " + site(plain_line));
  EXPECT_EQ(capturing.name(), "lambda at " + site(capturing_line));
}

// ---------------------------------------------------------------------------
// Boxing

TEST(Handler, BoxedHandlerRunsAndNamesThroughTheVirtualInterface) {
  keel::World world = make_world();
  std::vector<std::unique_ptr<keel::Handler<const Quote&>>> handlers;
  handlers.push_back(keel::boxed(keel::handler(world.registry(), on_quote)));
  const int lambda_line = __LINE__ + 1;
  handlers.push_back(keel::boxed(keel::handler(world.registry(), [](keel::ResMut<Book> b, const Quote& q) {
    b->qty *= q.qty;
  })));

  for (auto& h : handlers) h->run(world, Quote{.qty = 3});
  EXPECT_EQ(world.resource<Book>().qty, 9);  // (0 + 3) * 3, in order

  EXPECT_EQ(handlers[0]->name(), "on_quote");
  EXPECT_EQ(handlers[1]->name(), "lambda at " + site(lambda_line));
}

TEST(Handler, BoxedHandlerKeepsTheEventPassingConvention) {
  keel::World world = make_world();
  Counts counts;  // outlives `sink`
  std::optional<Tracked> sink;
  std::unique_ptr<keel::Handler<Tracked&&>> box =
      keel::boxed(keel::handler(world.registry(), [&sink](Tracked&& e) { sink.emplace(std::move(e)); }));

  Tracked event(counts, 3);
  box->run(world, std::move(event));
  ASSERT_TRUE(sink.has_value());
  EXPECT_EQ(counts.copies, 0);
  EXPECT_EQ(counts.moves, 1);
}

// ---------------------------------------------------------------------------
// HandlerTemplate

TEST(HandlerTemplate, GeneratesHandlersSharingResourcesWithIndependentLocals) {
  keel::World world = make_world();
  keel::HandlerTemplate tmpl(world.registry(), [](keel::ResMut<Book> book, keel::Local<int> runs, int e) {
    ++*runs;
    book->qty += e;
    book->updates = *runs;
  });

  auto first = tmpl.generate();
  auto second = tmpl.generate();
  first.run(world, 1);
  first.run(world, 1);
  first.run(world, 1);
  EXPECT_EQ(world.resource<Book>().updates, 3);
  second.run(world, 10);
  EXPECT_EQ(world.resource<Book>().updates, 1);  // its Local started from zero
  EXPECT_EQ(world.resource<Book>().qty, 13);     // both wrote the same Book

  auto third = tmpl.generate();  // unaffected by the runs of the others
  third.run(world, 0);
  EXPECT_EQ(world.resource<Book>().updates, 1);
  first.run(world, 0);
  EXPECT_EQ(world.resource<Book>().updates, 4);
}

TEST(HandlerTemplate, ResolvesParametersOnceNotOnGenerate) {
  keel::World world = make_world();
  InitCounter::inits = 0;
  keel::HandlerTemplate tmpl(world.registry(), [](InitCounter, keel::ResMut<Book> b, int e) { b->qty += e; });
  EXPECT_EQ(InitCounter::inits, 1);

  for (int i = 0; i < 3; ++i) tmpl.generate().run(world, 1);
  EXPECT_EQ(InitCounter::inits, 1);
  EXPECT_EQ(world.resource<Book>().qty, 3);

  // Whereas each handler() resolves anew.
  keel::handler(world.registry(), [](InitCounter, int) {});
  EXPECT_EQ(InitCounter::inits, 2);
}

TEST(HandlerTemplate, ThrowsForMissingResourceAtConstruction) {
  keel::World world = make_world();
  const std::string message =
      config_error_message([&] { keel::HandlerTemplate tmpl(world.registry(), on_quote_needing_missing); });
  EXPECT_TRUE(Contains(message, "handler_test::Missing"));
  EXPECT_TRUE(Contains(message, "on_quote_needing_missing"));
}

TEST(HandlerTemplate, NamesItselfAndItsHandlersLikeHandler) {
  keel::World world = make_world();
  keel::HandlerTemplate named(world.registry(), on_quote);
  EXPECT_EQ(named.name(), "on_quote");
  EXPECT_EQ(named.generate().name(), "on_quote");

  const int line = __LINE__ + 1;
  keel::HandlerTemplate lambda(world.registry(), [](int) {});
  EXPECT_EQ(lambda.name(), "lambda at " + site(line));
  EXPECT_EQ(lambda.generate().name(), "lambda at " + site(line));
}

TEST(HandlerTemplate, GeneratedHandlersAreCheckedAgainstTheirWorld) {
  keel::World world = make_world();
  keel::World other = make_world();
  keel::HandlerTemplate tmpl(world.registry(), on_quote);
  auto h = tmpl.generate();
  EXPECT_THROW(h.run(other, Quote{.qty = 1}), keel::ConfigError);
  EXPECT_EQ(world.resource<Book>().qty, 0);
}

// ---------------------------------------------------------------------------
// Errors

TEST(Handler, MissingResourceThrowsConfigErrorNamingResourceAndHandler) {
  keel::World world = make_world();
  const std::string named = config_error_message([&] { keel::handler(world.registry(), on_quote_needing_missing); });
  EXPECT_TRUE(Contains(named, "'handler_test::Missing'"));
  EXPECT_TRUE(Contains(named, "'on_quote_needing_missing'"));

  const int line = __LINE__ + 1;
  const std::string lambda = config_error_message([&] { keel::handler(world.registry(), [](keel::Res<Missing>, int) {}); });
  EXPECT_TRUE(Contains(lambda, "'handler_test::Missing'"));
  EXPECT_TRUE(Contains(lambda, "lambda at " + site(line)));
}

// The wrong-World check compares World serials, which are never reused, not
// addresses: a handler that outlived its World, run on a World built
// afterwards whose storage may land at the freed address, throws instead of
// writing into freed memory, whatever addresses the allocator hands out.
TEST(Handler, RunningAfterItsWorldDiedThrowsEvenIfANewWorldReusesItsAddress) {
  if (!keel::internal::kCheckWorld) GTEST_SKIP() << "the wrong-World check is compiled out (NDEBUG)";
  std::optional<keel::World> first(make_world());
  auto h = keel::handler(first->registry(), on_quote);
  first.reset();
  keel::World second = make_world();
  const std::string message = config_error_message([&] { h.run(second, Quote{.qty = 5}); });
  EXPECT_TRUE(Contains(message, "another World"));
  EXPECT_EQ(second.resource<Book>().qty, 0);
}

TEST(Handler, RunningOnAnotherWorldThrowsAndLeavesTheFirstWorldUntouched) {
  if (!keel::internal::kCheckWorld) GTEST_SKIP() << "the wrong-World check is compiled out (NDEBUG)";
  keel::World first = make_world();
  keel::World second = make_world();
  auto h = keel::handler(first.registry(), on_quote);

  const std::string message = config_error_message([&] { h.run(second, Quote{.qty = 5}); });
  EXPECT_TRUE(Contains(message, "'on_quote'"));
  EXPECT_TRUE(Contains(message, "another World"));
  EXPECT_EQ(first.resource<Book>().qty, 0);
  EXPECT_EQ(first.resource<Book>().updates, 0);
  EXPECT_EQ(second.resource<Book>().qty, 0);

  // On its own World it still works.
  h.run(first, Quote{.qty = 5});
  EXPECT_EQ(first.resource<Book>().qty, 5);
}

TEST(Handler, BoxedHandlerOnAnotherWorldThrows) {
  if (!keel::internal::kCheckWorld) GTEST_SKIP() << "the wrong-World check is compiled out (NDEBUG)";
  keel::World first = make_world();
  keel::World second = make_world();
  auto box = keel::boxed(keel::handler(first.registry(), on_quote));
  const std::string message = config_error_message([&] { box->run(second, Quote{.qty = 5}); });
  EXPECT_TRUE(Contains(message, "'on_quote'"));
  EXPECT_EQ(first.resource<Book>().qty, 0);
}

// ---------------------------------------------------------------------------
// Running

TEST(Handler, IgnoresReturnValues) {
  keel::World world = make_world();
  auto returns_int = keel::handler(world.registry(), [](keel::ResMut<Book> b, int e) {
    b->qty += e;
    return b->qty;
  });
  // A [[nodiscard]] result is discarded too, without a warning (-Werror).
  auto returns_must_use = keel::handler(world.registry(), [](keel::ResMut<Book> b, int e) {
    b->updates += e;
    return MustUse{e};
  });
  static_assert(std::is_void_v<decltype(returns_int.run(world, 1))>);
  static_assert(std::is_void_v<decltype(returns_must_use.run(world, 1))>);

  returns_int.run(world, 4);
  returns_must_use.run(world, 2);
  EXPECT_EQ(world.resource<Book>().qty, 4);
  EXPECT_EQ(world.resource<Book>().updates, 2);
}

TEST(Handler, FetchesParametersFreshOnEveryRun) {
  keel::World world = make_world(/*max_qty=*/10);
  std::vector<int> limits;
  std::vector<std::uint64_t> sequences;
  auto h = keel::handler(world.registry(), [&](keel::Res<Limits> lim, keel::Seq seq, int) {
    limits.push_back(lim->max_qty);
    sequences.push_back(seq.value());
  });

  world.next_sequence();
  h.run(world, 0);
  world.resource<Limits>().max_qty = 20;  // a mutation between runs
  world.next_sequence();
  h.run(world, 0);
  EXPECT_EQ(limits, (std::vector<int>{10, 20}));
  EXPECT_EQ(sequences, (std::vector<std::uint64_t>{1, 2}));
}

TEST(Handler, LocalStateIsValueInitializedAndOwnedByEachHandler) {
  keel::World world = make_world();
  auto counting = [](keel::Local<int> n, keel::ResMut<Book> b, int) { b->updates = ++*n; };
  auto a = keel::handler(world.registry(), counting);
  auto b = keel::handler(world.registry(), counting);

  a.run(world, 0);
  a.run(world, 0);
  EXPECT_EQ(world.resource<Book>().updates, 2);
  b.run(world, 0);
  EXPECT_EQ(world.resource<Book>().updates, 1);
}

TEST(Handler, BuiltAgainstTheBuilderRegistryRunsOnTheBuiltWorld) {
  keel::WorldBuilder wb;
  wb.insert(Book{});
  wb.insert(Limits{});
  auto h = keel::handler(wb.registry(), on_quote);
  keel::World world = std::move(wb).build();

  h.run(world, Quote{.qty = 12});
  EXPECT_EQ(world.resource<Book>().qty, 12);
}

TEST(Handler, KeepsWorkingAfterItsWorldIsMoved) {
  keel::World world = make_world();
  auto h = keel::handler(world.registry(), on_quote);
  keel::World moved = std::move(world);

  h.run(moved, Quote{.qty = 2});
  EXPECT_EQ(moved.resource<Book>().qty, 2);
}

}  // namespace
