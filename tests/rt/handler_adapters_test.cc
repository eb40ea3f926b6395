// Tests for rt/handler_adapters.h: keel::catch_exceptions, keel::by_ref and
// keel::cloned.
#include "rt/handler_adapters.h"

#include <gtest/gtest.h>

#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "rt/handler.h"
#include "rt/param.h"
#include "rt/world.h"
#include "tests/rt/fixtures.h"
#include "tests/rt/tracking.h"

namespace handler_adapters_test {

struct Log {
  std::vector<int> values;
};

}  // namespace handler_adapters_test

using handler_adapters_test::Log;
using keel_test::Counts;
using keel_test::Tracked;

// Logs every event it sees, counting them in its Local, and throws on
// negative events after counting.
void parse(keel::ResMut<Log> log, keel::Local<int> seen, int e) {
  ++*seen;
  if (e < 0) throw std::invalid_argument("bad event " + std::to_string(e) + " after " + std::to_string(*seen));
  log->values.push_back(e * 100 + *seen);
}

void record_cref(keel::ResMut<Log> log, const Tracked& t) { log->values.push_back(t.value); }
void record_value(keel::ResMut<Log> log, Tracked t) { log->values.push_back(t.value); }

namespace {

keel::World make_world() { return keel_test::world_with(Log{}); }

std::vector<int>& log_of(keel::World& world) { return world.resource<Log>().values; }

// What on_error received, rethrown and read.
struct Reported {
  std::vector<std::string> messages;
  int non_std = 0;

  void operator()(std::exception_ptr error) {
    ASSERT_TRUE(error);
    try {
      std::rethrow_exception(error);
    } catch (const std::invalid_argument& e) {
      messages.push_back(std::string("invalid_argument: ") + e.what());
    } catch (const std::exception& e) {
      messages.push_back(std::string("other std::exception: ") + e.what());
    } catch (...) {
      ++non_std;
    }
  }
};

// ---------------------------------------------------------------------------
// catch_exceptions

TEST(CatchExceptions, ReportsTheThrownExceptionToOnError) {
  keel::World world = make_world();
  Reported reported;
  auto safe = keel::catch_exceptions(keel::handler(world.registry(), parse),
                                     [&reported](std::exception_ptr e) { reported(std::move(e)); });

  EXPECT_NO_THROW(safe.run(world, -5));
  EXPECT_EQ(reported.messages, (std::vector<std::string>{"invalid_argument: bad event -5 after 1"}));
  EXPECT_TRUE(log_of(world).empty());
}

TEST(CatchExceptions, KeepsRunningWithItsLocalStateAfterAThrow) {
  keel::World world = make_world();
  Reported reported;
  auto safe = keel::catch_exceptions(keel::handler(world.registry(), parse),
                                     [&reported](std::exception_ptr e) { reported(std::move(e)); });

  safe.run(world, 1);
  safe.run(world, -1);
  safe.run(world, 2);
  safe.run(world, -2);
  safe.run(world, 3);
  // Local<int> kept counting through the throws: 1, (2), 3, (4), 5.
  EXPECT_EQ(log_of(world), (std::vector<int>{101, 203, 305}));
  EXPECT_EQ(reported.messages, (std::vector<std::string>{"invalid_argument: bad event -1 after 2",
                                                         "invalid_argument: bad event -2 after 4"}));
}

TEST(CatchExceptions, DoesNotCallOnErrorWhenNothingThrows) {
  keel::World world = make_world();
  int calls = 0;
  auto safe = keel::catch_exceptions(keel::handler(world.registry(), parse), [&calls](std::exception_ptr) { ++calls; });
  safe.run(world, 1);
  safe.run(world, 2);
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(log_of(world), (std::vector<int>{101, 202}));
}

TEST(CatchExceptions, ReportsExceptionsNotDerivedFromStdException) {
  keel::World world = make_world();
  Reported reported;
  auto safe = keel::catch_exceptions(keel::handler(world.registry(), [](int e) { throw e; }),
                                     [&reported](std::exception_ptr e) { reported(std::move(e)); });
  safe.run(world, 7);
  EXPECT_EQ(reported.non_std, 1);
  EXPECT_TRUE(reported.messages.empty());
}

TEST(CatchExceptions, WrapsABoxedHandler) {
  keel::World world = make_world();
  std::unique_ptr<keel::Handler<int>> box = keel::boxed(keel::handler(world.registry(), parse));
  Reported reported;
  auto safe = keel::catch_exceptions(std::move(box), [&reported](std::exception_ptr e) { reported(std::move(e)); });
  static_assert(std::is_same_v<decltype(safe)::event_type, int>);

  safe.run(world, -1);
  safe.run(world, 4);
  EXPECT_EQ(reported.messages, (std::vector<std::string>{"invalid_argument: bad event -1 after 1"}));
  EXPECT_EQ(log_of(world), (std::vector<int>{402}));
  EXPECT_EQ(safe.name(), "parse");
}

TEST(CatchExceptions, IsBoxableAndForwardsName) {
  keel::World world = make_world();
  int calls = 0;
  std::unique_ptr<keel::Handler<int>> box = keel::boxed(
      keel::catch_exceptions(keel::handler(world.registry(), parse), [&calls](std::exception_ptr) { ++calls; }));
  EXPECT_EQ(box->name(), "parse");
  box->run(world, -3);
  box->run(world, 3);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(log_of(world), (std::vector<int>{302}));
}

TEST(CatchExceptions, GivesAccessToTheWrappedHandler) {
  keel::World world = make_world();
  auto safe = keel::catch_exceptions(keel::callback(0, world.registry(), [](int& fires, int) { ++fires; }),
                                     [](std::exception_ptr) {});
  safe.run(world, 0);
  EXPECT_EQ(safe.inner().ctx(), 1);
}

// ---------------------------------------------------------------------------
// by_ref

TEST(ByRef, RunsAConstReferenceHandlerAsAHandlerOfValues) {
  keel::World world = make_world();
  auto adapted = keel::by_ref(keel::handler(world.registry(), record_cref));
  static_assert(std::is_same_v<decltype(adapted)::event_type, Tracked>);

  Counts counts;
  adapted.run(world, Tracked(counts, 4));
  EXPECT_EQ(log_of(world), (std::vector<int>{4}));
  EXPECT_EQ(counts.copies, 0);  // the value is passed on by reference
  EXPECT_EQ(counts.moves, 0);
  EXPECT_EQ(adapted.name(), "record_cref");
}

TEST(ByRef, IsBoxableIntoHandlerOfValue) {
  keel::World world = make_world();
  std::unique_ptr<keel::Handler<Tracked>> box = keel::boxed(keel::by_ref(keel::handler(world.registry(), record_cref)));
  Counts counts;
  box->run(world, Tracked(counts, 6));
  EXPECT_EQ(log_of(world), (std::vector<int>{6}));
  EXPECT_EQ(counts.copies, 0);
  EXPECT_EQ(box->name(), "record_cref");
}

TEST(ByRef, WrapsABoxedConstReferenceHandler) {
  keel::World world = make_world();
  std::unique_ptr<keel::Handler<const Tracked&>> inner = keel::boxed(keel::handler(world.registry(), record_cref));
  auto adapted = keel::by_ref(std::move(inner));
  static_assert(std::is_same_v<decltype(adapted)::event_type, Tracked>);
  Counts counts;
  adapted.run(world, Tracked(counts, 8));
  EXPECT_EQ(log_of(world), (std::vector<int>{8}));
  EXPECT_EQ(counts.copies, 0);
  EXPECT_EQ(adapted.name(), "record_cref");
}

// ---------------------------------------------------------------------------
// cloned

TEST(Cloned, RunsAValueHandlerAsAHandlerOfConstReferencesCopyingEachEventOnce) {
  keel::World world = make_world();
  auto adapted = keel::cloned(keel::handler(world.registry(), record_value));
  static_assert(std::is_same_v<decltype(adapted)::event_type, const Tracked&>);

  Counts counts;
  const Tracked event(counts, 5);
  adapted.run(world, event);
  EXPECT_EQ(counts.copies, 1);
  adapted.run(world, event);
  adapted.run(world, event);
  EXPECT_EQ(counts.copies, 3);
  EXPECT_FALSE(event.moved_from());  // the caller's event is untouched
  EXPECT_EQ(log_of(world), (std::vector<int>{5, 5, 5}));
  EXPECT_EQ(adapted.name(), "record_value");
}

TEST(Cloned, IsBoxableIntoHandlerOfConstReference) {
  keel::World world = make_world();
  std::unique_ptr<keel::Handler<const Tracked&>> box = keel::boxed(keel::cloned(keel::handler(world.registry(), record_value)));
  Counts counts;
  const Tracked event(counts, 9);
  box->run(world, event);
  EXPECT_EQ(counts.copies, 1);
  EXPECT_EQ(log_of(world), (std::vector<int>{9}));
  EXPECT_EQ(box->name(), "record_value");
}

TEST(Cloned, WrapsABoxedValueHandlerCopyingEachEventOnce) {
  keel::World world = make_world();
  std::unique_ptr<keel::Handler<Tracked>> inner = keel::boxed(keel::handler(world.registry(), record_value));
  auto adapted = keel::cloned(std::move(inner));
  static_assert(std::is_same_v<decltype(adapted)::event_type, const Tracked&>);
  Counts counts;
  const Tracked event(counts, 2);
  adapted.run(world, event);
  adapted.run(world, event);
  EXPECT_EQ(counts.copies, 2);
  EXPECT_EQ(log_of(world), (std::vector<int>{2, 2}));
  EXPECT_EQ(adapted.name(), "record_value");
}

TEST(Cloned, GivesTheInnerHandlerItsOwnCopyToMoveFrom) {
  keel::World world = make_world();
  Counts counts;  // outlives `sink`
  std::vector<Tracked> sink;
  auto adapted = keel::cloned(keel::handler(world.registry(), [&sink](Tracked t) { sink.push_back(std::move(t)); }));
  const Tracked event(counts, 1);
  sink.reserve(2);
  adapted.run(world, event);
  adapted.run(world, event);
  ASSERT_EQ(sink.size(), 2u);
  EXPECT_EQ(sink[0].value, 1);
  EXPECT_EQ(counts.copies, 2);  // one per event; the rest are moves
  EXPECT_FALSE(event.moved_from());
}

// ---------------------------------------------------------------------------
// Composition

TEST(HandlerAdapters, ComposeAndForwardTheInnermostName) {
  keel::World world = make_world();
  int errors = 0;
  auto composed = keel::by_ref(keel::catch_exceptions(
      keel::cloned(keel::handler(world.registry(), [](keel::ResMut<Log> log, Tracked t) {
        if (t.value < 0) throw std::runtime_error("negative");
        log->values.push_back(t.value);
      })),
      [&errors](std::exception_ptr) { ++errors; }));
  static_assert(std::is_same_v<decltype(composed)::event_type, Tracked>);

  Counts counts;
  composed.run(world, Tracked(counts, -1));
  composed.run(world, Tracked(counts, 3));
  EXPECT_EQ(errors, 1);
  EXPECT_EQ(log_of(world), (std::vector<int>{3}));
  EXPECT_EQ(counts.copies, 2);  // cloned's one copy per event
  EXPECT_EQ(composed.name().substr(0, 10), "lambda at ");
}

TEST(HandlerAdapters, ReportWrongWorldThroughTheWrappedHandler) {
  if (!keel::internal::kCheckWorld) GTEST_SKIP() << "the wrong-World check is compiled out (NDEBUG)";
  keel::World first = make_world();
  keel::World second = make_world();
  auto adapted = keel::cloned(keel::handler(first.registry(), record_value));
  Counts counts;
  const Tracked event(counts, 1);
  EXPECT_THROW(adapted.run(second, event), keel::ConfigError);
  EXPECT_TRUE(log_of(first).empty());
}

// catch_exceptions reports every exception but keel::ConfigError, which
// escapes: a handler run on the wrong World is a mistake in how the program
// is put together, not a bad event, and handing it to on_error would let the
// misassembled program go on running.
TEST(CatchExceptions, LetsAWrongWorldConfigErrorEscapeInsteadOfReportingIt) {
  if (!keel::internal::kCheckWorld) GTEST_SKIP() << "the wrong-World check is compiled out (NDEBUG)";
  keel::World first = make_world();
  keel::World second = make_world();
  int reported = 0;
  auto safe = keel::catch_exceptions(keel::handler(first.registry(), parse), [&reported](std::exception_ptr) { ++reported; });
  EXPECT_THROW(safe.run(second, 1), keel::ConfigError);
  EXPECT_EQ(reported, 0);
  EXPECT_TRUE(log_of(first).empty());
  EXPECT_TRUE(log_of(second).empty());
}

TEST(CatchExceptions, LetsAConfigErrorThrownByTheHandlerEscape) {
  keel::World world = make_world();
  int reported = 0;
  auto safe = keel::catch_exceptions(
      keel::handler(world.registry(), [](int) { throw keel::ConfigError("keel: assembled wrongly"); }),
      [&reported](std::exception_ptr) { ++reported; });
  EXPECT_THROW(safe.run(world, 1), keel::ConfigError);
  EXPECT_EQ(reported, 0);
}

}  // namespace
