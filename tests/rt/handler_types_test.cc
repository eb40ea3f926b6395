// Handler types of the user's own, through every API that stores handlers:
// Uring::watch()/try_watch()/on_wake(), TimerWheel::schedule() and
// schedule_periodic(), Broadcast<E>::add() and fan_out(). Each takes, by the
// same rules (rt/internal/erase_handler.h):
//   - a value of a type with event_type, run(World&, event) and name() const;
//   - a std::unique_ptr<D> for a class D publicly derived from keel::Handler<E>;
//   - (watch, on_wake, schedule) a plain function, as before.
// The tests check that the object given is the one that runs (its state
// persists across events, nothing is copied), that it is destroyed when its
// watch, timer or subscription ends, that an empty std::unique_ptr is a
// ConfigError, and what the wrong-World check covers for such types. The
// mistakes the compiler sees are the boxed_* compile-fail tests.
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "rt/fan_out.h"
#include "rt/handler.h"
#include "rt/testing.h"
#include "rt/timer.h"
#include "rt/uring.h"
#include "rt/world.h"
#include "tests/rt/fd.h"
#include "tests/rt/fixtures.h"
#include "tests/rt/tracking.h"

namespace {

using namespace std::chrono_literals;
using keel::Backend;
using keel::Instant;
using keel_test::config_error_message;
using keel_test::Contains;
using keel_test::Counts;
using keel_test::drain;
using keel_test::Fd;
using keel_test::FdPair;
using keel_test::make_eventfd;
using keel_test::make_pipe;
using keel_test::signal_eventfd;
using keel_test::Tracked;

struct Quote {
  int px = 0;
};

// What the handlers of a test saw, in order: "label: event".
using Log = std::vector<std::string>;

std::string describe(const keel::Readiness& r) {
  drain(r.fd);  // edge-like readiness: read the fd dry
  return r.readable() ? "readable" : "not readable";
}
std::string describe(const keel::Woken&) { return "woken"; }
std::string describe(Instant at) { return std::to_string(at.time_since_epoch() / 1ms) + "ms"; }
std::string describe(const Quote& q) { return "quote " + std::to_string(q.px); }

// A handler type of the test's own, with no base class. Its Tracked counts
// copies, moves and destructions of the handler itself.
template <class E>
class Own {
 public:
  using event_type = E;
  Own(std::string label, Log& log, Counts& counts) : label_(std::move(label)), log_(&log), tracked_(counts) {}
  void run(keel::World&, E event) { log_->push_back(label_ + ": " + describe(event)); }
  std::string_view name() const noexcept { return label_; }

 private:
  std::string label_;
  Log* log_;
  Tracked tracked_;
};

// The same behaviour behind keel::Handler<E>, passed as std::unique_ptr.
template <class E>
class Derived final : public keel::Handler<E> {
 public:
  Derived(std::string label, Log& log, Counts& counts) : label_(std::move(label)), log_(&log), tracked_(counts) {}
  void run(keel::World&, E event) override { log_->push_back(label_ + ": " + describe(event)); }
  std::string_view name() const noexcept override { return label_; }

 private:
  std::string label_;
  Log* log_;
  Tracked tracked_;
};

// Own<E> with a 256-byte member: too big for the 64 inline bytes of a
// watch or timer slot, so it is boxed behind the scenes.
template <class E>
struct Bulky {
  using event_type = E;
  Own<E> inner;
  std::array<char, 256> scratch{};
  void run(keel::World& world, E event) { inner.run(world, std::forward<E>(event)); }
  std::string_view name() const noexcept { return inner.name(); }
};

// name() without noexcept: accepted (see docs/handlers.md, "Your own
// handler type"); it just must not throw.
template <class E>
struct NameMayThrow {
  using event_type = E;
  int* runs;
  void run(keel::World&, E event) {
    (void)describe(event);
    ++*runs;
  }
  std::string_view name() const { return "NameMayThrow"; }
};

template <class E>
std::unique_ptr<Derived<E>> make_derived(std::string label, Log& log, Counts& counts) {
  return std::make_unique<Derived<E>>(std::move(label), log, counts);
}

// --- Uring::watch / try_watch / on_wake ---------------------------------------------

// Reads lines from a pipe; a line split across two readiness events is
// joined, so the buffer must be the same object from one event to the next.
class LineReader {
 public:
  using event_type = const keel::Readiness&;
  LineReader(Log& lines, int& runs, Counts& counts) : lines_(&lines), runs_(&runs), tracked_(counts) {}

  void run(keel::World&, const keel::Readiness& r) {
    ++*runs_;
    char chunk[16];
    for (ssize_t n; (n = ::read(r.fd, chunk, sizeof chunk)) > 0;) pending_.append(chunk, static_cast<std::size_t>(n));
    for (std::size_t end; (end = pending_.find('\n')) != std::string::npos; pending_.erase(0, end + 1))
      lines_->push_back(pending_.substr(0, end));
  }
  std::string_view name() const noexcept { return "LineReader"; }

 private:
  Log* lines_;
  int* runs_;
  std::string pending_;
  Tracked tracked_;
};

struct Loop {
  keel::World world;
  keel::UringPoller io;
  keel::Uring& uring() { return world.resource<keel::Uring>(); }
  // Polls until `done()`, at most 10 s (a safety net, not a measurement).
  template <class Done>
  void poll_until(Done done) {
    const auto limit = std::chrono::steady_clock::now() + 10s;
    while (!done() && std::chrono::steady_clock::now() < limit) io.poll(world, 50ms);
  }
};

class HandlerTypesUring : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (const auto why = keel_test::refusal(GetParam())) GTEST_SKIP() << *why;
  }
  Loop open() {
    keel::WorldBuilder wb;
    keel::UringPoller io = wb.install_driver(keel::UringInstaller{.entries = 16, .backend = GetParam()});
    return Loop{std::move(wb).build(), io};
  }
};

INSTANTIATE_TEST_SUITE_P(Backends, HandlerTypesUring, ::testing::Values(Backend::IoUring, Backend::Epoll),
                         keel_test::backend_name);

TEST_P(HandlerTypesUring, WatchStoresAHandlerTypeOfItsOwnWhoseStateLastsAcrossEvents) {
  Counts counts;
  Log lines;
  int runs = 0;
  Loop loop = open();
  FdPair pipe = make_pipe();
  const keel::Watch w = loop.uring().watch(pipe.a.get(), keel::Readable, LineReader(lines, runs, counts));
  EXPECT_EQ(counts.live, 1);
  EXPECT_EQ(counts.copies, 0);

  // Half a line, read by one run; the rest, read by a later one.
  ASSERT_EQ(::write(pipe.b.get(), "hel", 3), 3);
  loop.poll_until([&] { return runs == 1; });
  EXPECT_TRUE(lines.empty());
  ASSERT_EQ(::write(pipe.b.get(), "lo\nworld\n", 9), 9);
  loop.poll_until([&] { return lines.size() == 2; });
  EXPECT_EQ(lines, (Log{"hello", "world"}));
  EXPECT_EQ(runs, 2);

  EXPECT_TRUE(loop.uring().unwatch(w));
  EXPECT_EQ(counts.live, 0);
  EXPECT_EQ(counts.destroyed, 1);
  EXPECT_EQ(counts.copies, 0);
}

TEST_P(HandlerTypesUring, WatchTakesAUniquePtrToADerivedHandlerAndNeverCopiesOrMovesTheHandler) {
  Counts counts;
  Log log;
  Loop loop = open();
  Fd fd = make_eventfd();
  const keel::Watch w =
      loop.uring().watch(fd.get(), keel::Readable, make_derived<const keel::Readiness&>("derived", log, counts));
  signal_eventfd(fd.get());
  loop.poll_until([&] { return log.size() == 1; });
  EXPECT_EQ(log, (Log{"derived: readable"}));
  EXPECT_EQ(counts, (Counts{.copies = 0, .moves = 0, .instances = 1, .live = 1, .destroyed = 0}));
  EXPECT_TRUE(loop.uring().unwatch(w));
  EXPECT_EQ(counts, (Counts{.copies = 0, .moves = 0, .instances = 0, .live = 0, .destroyed = 1}));
}

TEST_P(HandlerTypesUring, HandlersOfReadinessByValueGetACopyOfTheEvent) {
  Counts counts;
  Log log;
  Loop loop = open();
  Fd own_fd = make_eventfd();
  Fd derived_fd = make_eventfd();
  loop.uring().watch(own_fd.get(), keel::Readable, Own<keel::Readiness>("own", log, counts));
  loop.uring().watch(derived_fd.get(), keel::Readable, make_derived<keel::Readiness>("derived", log, counts));
  signal_eventfd(own_fd.get());
  signal_eventfd(derived_fd.get());
  loop.poll_until([&] { return log.size() == 2; });
  std::sort(log.begin(), log.end());
  EXPECT_EQ(log, (Log{"derived: readable", "own: readable"}));
}

TEST_P(HandlerTypesUring, AHandlerTypeTooBigToStoreInlineIsBoxedAndDestroyedOnUnwatch) {
  static_assert(sizeof(Bulky<const keel::Readiness&>) > keel::Uring::kInlineBytes);
  Counts counts;
  Log log;
  Loop loop = open();
  Fd fd = make_eventfd();
  const keel::Watch w = loop.uring().watch(
      fd.get(), keel::Readable, Bulky<const keel::Readiness&>{.inner = {"bulky", log, counts}});
  signal_eventfd(fd.get());
  loop.poll_until([&] { return log.size() == 1; });
  EXPECT_EQ(log, (Log{"bulky: readable"}));
  EXPECT_EQ(counts.live, 1);
  EXPECT_TRUE(loop.uring().unwatch(w));
  EXPECT_EQ(counts.live, 0);
  EXPECT_EQ(counts.destroyed, 1);
}

TEST_P(HandlerTypesUring, AnEmptyUniquePtrIsAConfigErrorAndNothingIsWatched) {
  Loop loop = open();
  Fd fd = make_eventfd();
  const std::string message = config_error_message([&] {
    loop.uring().watch(fd.get(), keel::Readable, std::unique_ptr<Derived<const keel::Readiness&>>());
  });
  EXPECT_TRUE(Contains(message, "Uring::watch() was given an empty std::unique_ptr<"));
  EXPECT_TRUE(Contains(message, "Derived<const keel::Readiness&>>"));
  EXPECT_THROW(
      (void)loop.uring().try_watch(fd.get(), keel::Readable, std::unique_ptr<keel::Handler<keel::Readiness>>()),
      keel::ConfigError);
  EXPECT_EQ(loop.uring().size(), 0u);
  // The fd is still free to watch.
  int runs = 0;
  loop.uring().watch(fd.get(), keel::Readable, NameMayThrow<const keel::Readiness&>{&runs});
  signal_eventfd(fd.get());
  loop.poll_until([&] { return runs == 1; });
  EXPECT_EQ(runs, 1);
}

TEST_P(HandlerTypesUring, EveryFormOfHandlerIsDestroyedOnceWithTheWorld) {
  Counts counts;
  Log log;
  std::vector<Fd> fds;
  {
    Loop loop = open();
    for (int i = 0; i < 4; ++i) fds.push_back(make_eventfd());
    loop.uring().watch(fds[0].get(), keel::Readable, Own<const keel::Readiness&>("own", log, counts));
    loop.uring().watch(fds[1].get(), keel::Readable, make_derived<const keel::Readiness&>("derived", log, counts));
    loop.uring().watch(fds[2].get(), keel::Readable, Bulky<keel::Readiness>{.inner = {"bulky", log, counts}});
    loop.uring().watch(fds[3].get(), keel::Readable, make_derived<keel::Readiness>("by value", log, counts));
    loop.uring().on_wake(Own<const keel::Woken&>("on wake", log, counts));
    EXPECT_EQ(counts.live, 5);
  }
  EXPECT_EQ(counts.live, 0);
  EXPECT_EQ(counts.destroyed, 5);
  EXPECT_EQ(counts.copies, 0);
}

TEST_P(HandlerTypesUring, OnWakeTakesBothFormsAndSettingAnotherDestroysThePrevious) {
  Counts counts;
  Log log;
  Loop loop = open();
  keel::UringWaker waker = loop.uring().waker();
  loop.uring().on_wake(Own<const keel::Woken&>("own", log, counts));
  waker.wake();
  loop.poll_until([&] { return log.size() == 1; });

  loop.uring().on_wake(make_derived<keel::Woken>("derived", log, counts));
  EXPECT_EQ(counts.destroyed, 1);  // the first one
  EXPECT_EQ(counts.live, 1);
  waker.wake();
  loop.poll_until([&] { return log.size() == 2; });
  EXPECT_EQ(log, (Log{"own: woken", "derived: woken"}));
}

// --- TimerWheel::schedule / schedule_periodic -------------------------------------------

class Timers {
 public:
  Timers() {
    keel::WorldBuilder wb;
    poller_.emplace(wb.install_driver(keel::TimerInstaller{}));
    world_.emplace(std::move(wb).build());
  }
  keel::World& world() { return *world_; }
  keel::TimerWheel& wheel() { return world_->resource<keel::TimerWheel>(); }
  std::size_t advance_and_poll(std::chrono::nanoseconds d) { return poller_->poll(*world_, clock.advance(d)); }
  Instant in(std::chrono::nanoseconds d) const { return clock.now() + d; }

  keel::testing::VirtualClock clock;

 private:
  std::optional<keel::TimerPoller> poller_;
  std::optional<keel::World> world_;
};

static_assert(keel::TimerWheel::stores_inline<Own<Instant>>);
static_assert(keel::TimerWheel::stores_inline<Own<const Instant&>>);
static_assert(keel::TimerWheel::stores_inline<std::unique_ptr<Derived<Instant>>>);
static_assert(keel::TimerWheel::stores_inline<std::unique_ptr<Derived<const Instant&>>>);
static_assert(!keel::TimerWheel::stores_inline<Bulky<Instant>>);

TEST(HandlerTypesTimer, ScheduleFiresHandlerTypesOfEitherSpellingWithTheirDeadlineThenDestroysThem) {
  Counts counts;
  Log log;
  Timers t;
  t.wheel().schedule(t.in(1ms), Own<Instant>("own", log, counts));
  t.wheel().schedule(t.in(2ms), Own<const Instant&>("own cref", log, counts));
  t.wheel().schedule(t.in(3ms), Bulky<Instant>{.inner = {"bulky", log, counts}});
  EXPECT_EQ(counts.live, 3);
  EXPECT_EQ(t.advance_and_poll(5ms), 3u);
  EXPECT_EQ(log, (Log{"own: 1ms", "own cref: 2ms", "bulky: 3ms"}));
  EXPECT_EQ(counts.live, 0);
  EXPECT_EQ(counts.destroyed, 3);
  EXPECT_EQ(counts.copies, 0);
}

TEST(HandlerTypesTimer, ScheduleTakesUniquePtrsToDerivedHandlersOfEitherSpelling) {
  Counts counts;
  Log log;
  Timers t;
  t.wheel().schedule(t.in(1ms), make_derived<Instant>("derived", log, counts));
  t.wheel().schedule(t.in(2ms), make_derived<const Instant&>("derived cref", log, counts));
  EXPECT_EQ(t.advance_and_poll(2ms), 2u);
  EXPECT_EQ(log, (Log{"derived: 1ms", "derived cref: 2ms"}));
  EXPECT_EQ(counts, (Counts{.copies = 0, .moves = 0, .instances = 0, .live = 0, .destroyed = 2}));
}

TEST(HandlerTypesTimer, CancellingDestroysAHandlerOfEitherFormAtOnce) {
  Counts counts;
  Log log;
  Timers t;
  const keel::TimerToken own = t.wheel().schedule(t.in(1ms), Own<Instant>("own", log, counts));
  const keel::TimerToken derived = t.wheel().schedule(t.in(1ms), make_derived<Instant>("derived", log, counts));
  EXPECT_TRUE(t.wheel().cancel(own));
  EXPECT_EQ(counts.destroyed, 1);
  EXPECT_TRUE(t.wheel().cancel(derived));
  EXPECT_EQ(counts.destroyed, 2);
  EXPECT_EQ(t.advance_and_poll(1ms), 0u);
  EXPECT_TRUE(log.empty());
}

TEST(HandlerTypesTimer, APeriodicHandlerIsOneObjectFromFiringToFiringUntilCancelled) {
  Counts counts;
  Log log;
  Timers t;
  const keel::TimerToken token =
      t.wheel().schedule_periodic(t.in(1ms), 1ms, make_derived<Instant>("tick", log, counts));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(t.advance_and_poll(1ms), 1u);
  EXPECT_EQ(log, (Log{"tick: 1ms", "tick: 2ms", "tick: 3ms"}));
  EXPECT_EQ(counts.instances, 1);
  EXPECT_EQ(counts.copies + counts.moves, 0);
  EXPECT_TRUE(t.wheel().cancel(token));
  EXPECT_EQ(counts.destroyed, 1);
}

TEST(HandlerTypesTimer, AnEmptyUniquePtrIsAConfigErrorAndNothingIsScheduled) {
  Timers t;
  const std::string message =
      config_error_message([&] { t.wheel().schedule(t.in(1ms), std::unique_ptr<Derived<Instant>>()); });
  EXPECT_TRUE(Contains(message, "TimerWheel::schedule() was given an empty std::unique_ptr<"));
  EXPECT_THROW(t.wheel().schedule_periodic(t.in(1ms), 1ms, std::unique_ptr<keel::Handler<const Instant&>>()),
               keel::ConfigError);
  EXPECT_TRUE(t.wheel().empty());
}

TEST(HandlerTypesTimer, ANameThatIsNotNoexceptIsAccepted) {
  int runs = 0;
  Timers t;
  t.wheel().schedule(t.in(1ms), NameMayThrow<Instant>{&runs});
  EXPECT_EQ(t.advance_and_poll(1ms), 1u);
  EXPECT_EQ(runs, 1);
}

// --- Broadcast<E>::add and fan_out --------------------------------------------------------

keel::World empty_world() { return keel::WorldBuilder().build(); }

TEST(HandlerTypesFanOut, BroadcastAddTakesBothFormsAndRemoveDestroysThem) {
  Counts counts;
  Log log;
  keel::World world = empty_world();
  keel::Broadcast<Quote> subscribers;
  const keel::BroadcastToken own = subscribers.add(Own<const Quote&>("own", log, counts));
  const keel::BroadcastToken derived = subscribers.add(make_derived<const Quote&>("derived", log, counts));
  subscribers.add(keel::cloned(make_derived<Quote>("by value", log, counts)));
  subscribers.run(world, Quote{7});
  EXPECT_EQ(log, (Log{"own: quote 7", "derived: quote 7", "by value: quote 7"}));
  EXPECT_EQ(counts.copies, 0);

  EXPECT_TRUE(subscribers.remove(own));
  EXPECT_EQ(counts.destroyed, 1);
  EXPECT_TRUE(subscribers.remove(derived));
  EXPECT_EQ(counts.destroyed, 2);
  EXPECT_EQ(subscribers.size(), 1u);
}

TEST(HandlerTypesFanOut, FanOutHoldsBothFormsNamesThemAndDestroysThemWithIt) {
  Counts counts;
  Log log;
  keel::World world = empty_world();
  {
    auto both =
        keel::fan_out(Own<const Quote&>("own", log, counts), make_derived<const Quote&>("derived", log, counts));
    EXPECT_EQ(both.name(), "fan_out(own, derived)");
    both.run(world, Quote{3});
    EXPECT_EQ(log, (Log{"own: quote 3", "derived: quote 3"}));
    // The unique_ptr member keeps its own type: reachable without a cast.
    std::unique_ptr<Derived<const Quote&>>& second = both.handler<1>();
    EXPECT_EQ(second->name(), "derived");
    EXPECT_EQ(counts.live, 2);
  }
  EXPECT_EQ(counts.live, 0);
  EXPECT_EQ(counts.destroyed, 2);
}

TEST(HandlerTypesFanOut, AnEmptyUniquePtrToADerivedHandlerIsAConfigErrorNamingTheClass) {
  Counts counts;
  Log log;
  const std::string message = config_error_message([&] {
    (void)keel::fan_out(Own<const Quote&>("own", log, counts), std::unique_ptr<Derived<const Quote&>>());
  });
  EXPECT_TRUE(Contains(message, "fan_out() was given an empty std::unique_ptr<"));
  EXPECT_TRUE(Contains(message, "Derived<const {anonymous}::Quote&>>"));
  keel::Broadcast<Quote> subscribers;
  EXPECT_TRUE(Contains(config_error_message([&] { subscribers.add(std::unique_ptr<Derived<const Quote&>>()); }),
                       "Broadcast::add() was given an empty std::unique_ptr<"));
  EXPECT_TRUE(subscribers.empty());
}

// --- the wrong-World check ----------------------------------------------------------

struct Book {
  int updates = 0;
};

keel::World world_with_book() {
  keel::WorldBuilder wb;
  wb.emplace<Book>();
  return std::move(wb).build();
}

void update_book(keel::ResMut<Book> book, const Quote&) { ++book->updates; }

// A handler type that runs a keel handler: the inner handler carries the
// World stamp, and checks it on each run.
class Relay {
 public:
  using event_type = const Quote&;
  explicit Relay(const keel::Registry& registry) : inner_(keel::handler(registry, update_book)) {}
  void run(keel::World& world, const Quote& q) { inner_.run(world, q); }
  std::string_view name() const noexcept { return "Relay"; }

 private:
  decltype(keel::handler(std::declval<const keel::Registry&>(), update_book)) inner_;
};

// A handler type that resolves a resource itself and so checks the World
// itself, the way docs/handlers.md shows: the Registry's serial, copied.
class SelfChecking {
 public:
  using event_type = const Quote&;
  explicit SelfChecking(const keel::Registry& registry)
      : book_(&registry.resolve<Book>()), built_for_(registry.serial()) {}
  void run(keel::World& world, const Quote&) {
    if (world.serial() != built_for_) {
      throw keel::ConfigError("keel: handler 'SelfChecking' was built for another World");
    }
    ++book_->updates;
  }
  std::string_view name() const noexcept { return "SelfChecking"; }

 private:
  Book* book_;
  std::uint64_t built_for_;
};

// Resolves a resource and checks nothing.
class Unchecked {
 public:
  using event_type = const Quote&;
  explicit Unchecked(const keel::Registry& registry) : book_(&registry.resolve<Book>()) {}
  void run(keel::World&, const Quote&) { ++book_->updates; }
  std::string_view name() const noexcept { return "Unchecked"; }

 private:
  Book* book_;
};

TEST(HandlerTypesWorldCheck, AHandlerTypeRunningAKeelHandlerIsCheckedThroughIt) {
  if constexpr (!keel::internal::kCheckWorld) GTEST_SKIP() << "the check is compiled out (NDEBUG)";
  keel::World built_for = world_with_book();
  keel::World other = world_with_book();
  keel::Broadcast<Quote> subscribers;
  subscribers.add(Relay(built_for.registry()));
  subscribers.run(built_for, Quote{1});
  EXPECT_EQ(built_for.resource<Book>().updates, 1);
  const std::string message = config_error_message([&] { subscribers.run(other, Quote{1}); });
  EXPECT_TRUE(Contains(message, "handler '{anonymous}::update_book' was built for another World"));
  EXPECT_EQ(other.resource<Book>().updates, 0);
}

TEST(HandlerTypesWorldCheck, AHandlerTypeThatCopiesTheRegistrySerialChecksItself) {
  keel::World built_for = world_with_book();
  keel::World other = world_with_book();
  auto fan = keel::fan_out(SelfChecking(built_for.registry()));
  fan.run(built_for, Quote{1});
  EXPECT_THROW(fan.run(other, Quote{1}), keel::ConfigError);
  EXPECT_EQ(built_for.resource<Book>().updates, 1);
}

// The limit of the check, as docs/handlers.md states it: Keel stamps the
// handlers it builds; a type of the user's own that holds none and checks
// nothing runs on whatever World it is given, and writes the World it
// resolved from. (The drivers still refuse to poll another World: see
// uring_test and timer_test.)
TEST(HandlerTypesWorldCheck, AHandlerTypeWithNoStampIsNotChecked) {
  keel::World built_for = world_with_book();
  keel::World other = world_with_book();
  keel::Broadcast<Quote> subscribers;
  subscribers.add(Unchecked(built_for.registry()));
  subscribers.run(other, Quote{1});
  EXPECT_EQ(built_for.resource<Book>().updates, 1);
  EXPECT_EQ(other.resource<Book>().updates, 0);
}

}  // namespace
