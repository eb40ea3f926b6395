// Tests for rt/timer.h: the TimerWheel resource, its TimerPoller, and
// keel::testing::VirtualClock. Every test runs on a VirtualClock unless it
// says otherwise, so deadlines and firing order are deterministic.
#include "rt/timer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "rt/handler.h"
#include "rt/testing.h"
#include "rt/world.h"
#include "tests/rt/fixtures.h"

namespace {

using namespace std::chrono_literals;
using keel::Instant;
using keel::TimerToken;
using keel::TimerWheel;
using keel::testing::VirtualClock;

struct Fired {
  int id;
  Instant at;
  std::uint64_t seq;
  friend bool operator==(const Fired&, const Fired&) = default;
};

// What the handlers of a test saw, in order.
struct Log {
  std::vector<Fired> fired;
  std::vector<int> ids() const {
    std::vector<int> out;
    for (const Fired& f : fired) out.push_back(f.id);
    return out;
  }
};

struct Limits {
  int max_fires = 1'000'000;
};

// A World with a Log, Limits and the timer driver, and a virtual clock.
class Env {
 public:
  explicit Env(keel::TimerInstaller installer = {}, Instant start = Instant{}) : clock(start) {
    keel::WorldBuilder wb;
    wb.emplace<Log>();
    wb.emplace<Limits>();
    poller_.emplace(wb.install_driver(std::move(installer)));
    world_.emplace(std::move(wb).build());
  }

  keel::World& world() { return *world_; }
  const keel::Registry& registry() { return world_->registry(); }
  TimerWheel& wheel() { return world_->resource<TimerWheel>(); }
  keel::TimerPoller& poller() { return *poller_; }
  Log& log() { return world_->resource<Log>(); }

  std::size_t poll() { return poller_->poll(*world_, clock.now()); }
  std::size_t advance_and_poll(std::chrono::nanoseconds d) {
    clock.advance(d);
    return poll();
  }

  // A handler that logs (id, deadline, sequence).
  auto logger(int id) {
    return keel::handler(registry(), [id](keel::ResMut<Log> log, keel::Seq seq, Instant at) {
      log->fired.push_back(Fired{id, at, seq.value()});
    });
  }
  TimerToken at(Instant deadline, int id) { return wheel().schedule(deadline, logger(id)); }
  TimerToken in(std::chrono::nanoseconds d, int id) { return at(clock.now() + d, id); }

  VirtualClock clock;

 private:
  std::optional<keel::TimerPoller> poller_;
  std::optional<keel::World> world_;
};

// --- ordering --------------------------------------------------------------------

TEST(TimerWheel, FiresThousandsOfRandomTimersInDeadlineOrderEachAtTheFirstPollItIsDue) {
  Env env;
  std::mt19937_64 rng(42);
  constexpr int kTimers = 5000;
  std::vector<Instant> deadlines;
  for (int i = 0; i < kTimers; ++i) {
    // Quantized to 37 µs so that many share a deadline; spread over 2 minutes
    // so that they start in several levels of the wheel.
    const auto d = Instant{} + 37us * static_cast<std::int64_t>(rng() % 3'000'000);
    deadlines.push_back(d);
    env.at(d, i);
  }
  EXPECT_EQ(env.wheel().size(), static_cast<std::size_t>(kTimers));

  std::vector<Instant> poll_time_of_fire;
  Instant previous_poll = env.clock.now();
  std::size_t total = 0;
  while (total < kTimers) {
    env.clock.advance(std::chrono::nanoseconds(rng() % 50'000'000));  // up to 50 ms
    const std::size_t before = env.log().fired.size();
    const std::size_t n = env.poll();
    EXPECT_EQ(n, env.log().fired.size() - before);
    for (std::size_t k = before; k < env.log().fired.size(); ++k) {
      const Fired& f = env.log().fired[k];
      EXPECT_LE(f.at, env.clock.now()) << "timer " << f.id << " fired early";
      EXPECT_GT(f.at, previous_poll) << "timer " << f.id << " fired late";
    }
    previous_poll = env.clock.now();
    total += n;
  }

  std::vector<int> expected(kTimers);
  for (int i = 0; i < kTimers; ++i) expected[static_cast<std::size_t>(i)] = i;
  std::stable_sort(expected.begin(), expected.end(), [&](int a, int b) {
    return deadlines[static_cast<std::size_t>(a)] < deadlines[static_cast<std::size_t>(b)];
  });
  EXPECT_EQ(env.log().ids(), expected);
  for (const Fired& f : env.log().fired) EXPECT_EQ(f.at, deadlines[static_cast<std::size_t>(f.id)]);
  EXPECT_TRUE(env.wheel().empty());
  EXPECT_EQ(env.wheel().next_deadline(), std::nullopt);
}

TEST(TimerWheel, OnePollLongAfterEveryDeadlineFiresThemAllInDeadlineOrder) {
  Env env;
  std::mt19937_64 rng(7);
  std::vector<std::pair<Instant, int>> expected;
  for (int i = 0; i < 3000; ++i) {
    const auto d = Instant{} + std::chrono::microseconds(rng() % 100'000'000);  // within 100 s
    env.at(d, i);
    expected.emplace_back(d, i);
  }
  std::stable_sort(expected.begin(), expected.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  EXPECT_EQ(env.advance_and_poll(200s), 3000u);
  ASSERT_EQ(env.log().fired.size(), expected.size());
  for (std::size_t k = 0; k < expected.size(); ++k) {
    EXPECT_EQ(env.log().fired[k].id, expected[k].second);
    EXPECT_EQ(env.log().fired[k].at, expected[k].first);
  }
}

TEST(TimerWheel, TimersWithTheSameDeadlineFireInScheduleOrder) {
  Env env;
  const Instant d = env.clock.now() + 3ms;
  for (int i = 0; i < 100; ++i) env.at(d, i);
  env.at(d - 1ns, 1000);  // earlier by a nanosecond, same tick: first
  env.at(d + 1ns, 2000);  // later: last
  EXPECT_EQ(env.advance_and_poll(10ms), 102u);
  std::vector<int> expected{1000};
  for (int i = 0; i < 100; ++i) expected.push_back(i);
  expected.push_back(2000);
  EXPECT_EQ(env.log().ids(), expected);
}

TEST(TimerWheel, ATimerFiresWhenNowReachesItsDeadlineAndNotANanosecondBefore) {
  Env env;
  const Instant d = env.clock.now() + 1234567ns;  // not on a tick boundary
  env.at(d, 1);
  env.clock.set(d - 1ns);
  EXPECT_EQ(env.poll(), 0u);
  env.clock.set(d);
  EXPECT_EQ(env.poll(), 1u);
  EXPECT_EQ(env.log().fired.at(0).at, d);
}

TEST(TimerWheel, HandlersReceiveTheirDeadlineNotThePollTime) {
  Env env;
  env.in(1ms, 1);
  env.in(2500us, 2);
  env.advance_and_poll(1s);
  ASSERT_EQ(env.log().fired.size(), 2u);
  EXPECT_EQ(env.log().fired[0].at, Instant{} + 1ms);
  EXPECT_EQ(env.log().fired[1].at, Instant{} + 2500us);
}

TEST(TimerWheel, EachFiredTimerIsAnEventWithAFreshSequenceNumber) {
  Env env;
  for (int i = 0; i < 5; ++i) env.in(1ms * (i + 1), i);
  const std::uint64_t before = env.world().sequence();
  EXPECT_EQ(env.advance_and_poll(1s), 5u);
  ASSERT_EQ(env.log().fired.size(), 5u);
  for (std::size_t k = 0; k < 5; ++k) EXPECT_EQ(env.log().fired[k].seq, before + k + 1);
  EXPECT_EQ(env.world().sequence(), before + 5);
  EXPECT_EQ(env.advance_and_poll(1s), 0u);
  EXPECT_EQ(env.world().sequence(), before + 5) << "a poll that fires nothing uses no sequence number";
}

// --- cancel ------------------------------------------------------------------------

TEST(TimerWheel, CancellingBeforeTheDeadlineStopsTheTimer) {
  Env env;
  const TimerToken a = env.in(5ms, 1);
  env.in(6ms, 2);
  EXPECT_TRUE(env.wheel().contains(a));
  EXPECT_TRUE(env.wheel().cancel(a));
  EXPECT_FALSE(env.wheel().contains(a));
  EXPECT_EQ(env.wheel().size(), 1u);
  EXPECT_EQ(env.advance_and_poll(10ms), 1u);
  EXPECT_EQ(env.log().ids(), std::vector<int>{2});
}

TEST(TimerWheel, CancellingAFiredTimerReturnsFalse) {
  Env env;
  const TimerToken a = env.in(1ms, 1);
  env.advance_and_poll(1ms);
  EXPECT_FALSE(env.wheel().contains(a));
  EXPECT_FALSE(env.wheel().cancel(a));
  EXPECT_EQ(env.log().ids(), std::vector<int>{1});
}

TEST(TimerWheel, CancellingTwiceReturnsFalseTheSecondTime) {
  Env env;
  const TimerToken a = env.in(1ms, 1);
  EXPECT_TRUE(env.wheel().cancel(a));
  EXPECT_FALSE(env.wheel().cancel(a));
  EXPECT_EQ(env.advance_and_poll(1s), 0u);
}

TEST(TimerWheel, AnEmptyTokenCancelsNothing) {
  Env env;
  env.in(1ms, 1);
  EXPECT_FALSE(TimerToken{});
  EXPECT_FALSE(env.wheel().cancel(TimerToken{}));
  EXPECT_FALSE(env.wheel().reschedule(TimerToken{}, env.clock.now()));
  EXPECT_EQ(env.advance_and_poll(1s), 1u);
}

TEST(TimerWheel, AStaleTokenDoesNotReachTheTimerThatReusedItsSlot) {
  Env env;
  const TimerToken old = env.in(1ms, 1);
  EXPECT_TRUE(env.wheel().cancel(old));
  const TimerToken fresh = env.in(2ms, 2);  // reuses the freed slot
  EXPECT_NE(old, fresh);
  EXPECT_FALSE(env.wheel().cancel(old));
  EXPECT_FALSE(env.wheel().reschedule(old, env.clock.now() + 1h));
  EXPECT_TRUE(env.wheel().contains(fresh));
  EXPECT_EQ(env.advance_and_poll(1s), 1u);
  EXPECT_EQ(env.log().ids(), std::vector<int>{2});
}

TEST(TimerWheel, CancellingDestroysTheHandlerAtOnce) {
  Env env;
  auto owned = std::make_shared<int>(5);
  std::weak_ptr<int> watch = owned;
  const TimerToken t = env.wheel().schedule(env.clock.now() + 1ms, [owned = std::move(owned)](Instant) { ++*owned; });
  EXPECT_FALSE(watch.expired());
  EXPECT_TRUE(env.wheel().cancel(t));
  EXPECT_TRUE(watch.expired());
}

TEST(TimerWheel, AOneShotHandlerIsDestroyedAfterItFires) {
  Env env;
  auto owned = std::make_shared<int>(0);
  std::weak_ptr<int> watch = owned;
  env.wheel().schedule(env.clock.now() + 1ms, [owned = std::move(owned)](Instant) { ++*owned; });
  EXPECT_EQ(env.advance_and_poll(1ms), 1u);
  EXPECT_TRUE(watch.expired());
}

TEST(TimerWheel, HandlersStillPendingAreDestroyedWithTheWorld) {
  auto owned = std::make_shared<int>(0);
  std::weak_ptr<int> watch = owned;
  {
    Env env;
    env.wheel().schedule(env.clock.now() + 1h, [owned = std::move(owned)](Instant) { ++*owned; });
    env.wheel().schedule_periodic(env.clock.now() + 1ms, 1ms, [watch](Instant) {});
    EXPECT_FALSE(watch.expired());
  }
  EXPECT_TRUE(watch.expired());
}

// --- from inside handlers -------------------------------------------------------------

TEST(TimerWheel, AHandlerCancellingAnotherTimerDueInTheSamePollStopsIt) {
  Env env;
  // Both are due in the next poll; the first cancels the second before it fires.
  auto victim = std::make_shared<TimerToken>();
  auto cancelled = std::make_shared<bool>(false);
  env.wheel().schedule(env.clock.now() + 1ms,
                       [victim, cancelled](keel::ResMut<TimerWheel> w, keel::ResMut<Log> log, Instant at) {
                         *cancelled = w->cancel(*victim);
                         log->fired.push_back(Fired{1, at, 0});
                       });
  *victim = env.in(2ms, 2);
  env.in(3ms, 3);
  EXPECT_EQ(env.advance_and_poll(5ms), 2u);
  EXPECT_TRUE(*cancelled);
  EXPECT_EQ(env.log().ids(), (std::vector<int>{1, 3}));
  EXPECT_TRUE(env.wheel().empty());
}

TEST(TimerWheel, AHandlerCancellingATimerLaterInTheSameTickStopsIt) {
  // One 1 ms tick holds both timers; the second is not due at the poll's
  // `now` and stays in the bucket while the first fires and cancels it.
  Env env(keel::TimerInstaller{.resolution = 1ms});
  auto victim = std::make_shared<TimerToken>();
  env.wheel().schedule(env.clock.now() + 100us,
                       [victim](keel::ResMut<TimerWheel> w, Instant) { EXPECT_TRUE(w->cancel(*victim)); });
  *victim = env.in(900us, 2);
  EXPECT_EQ(env.advance_and_poll(500us), 1u);
  EXPECT_EQ(env.advance_and_poll(1ms), 0u);
  EXPECT_TRUE(env.log().fired.empty());
}

TEST(TimerWheel, AHandlerReschedulingAnotherDueTimerMovesItToALaterPoll) {
  Env env;
  auto other = std::make_shared<TimerToken>();
  env.wheel().schedule(env.clock.now() + 1ms, [other](keel::ResMut<TimerWheel> w, Instant at) {
    EXPECT_TRUE(w->reschedule(*other, at + 10ms));
  });
  *other = env.in(2ms, 2);
  EXPECT_EQ(env.advance_and_poll(2ms), 1u);
  EXPECT_TRUE(env.log().fired.empty());
  EXPECT_EQ(env.wheel().deadline(*other), Instant{} + 11ms);
  EXPECT_EQ(env.advance_and_poll(9ms), 1u);
  EXPECT_EQ(env.log().fired.at(0).at, Instant{} + 11ms);
}

TEST(TimerWheel, AHandlerReschedulesItselfWithItsOwnToken) {
  Env env;
  auto self = std::make_shared<TimerToken>();
  *self = env.wheel().schedule(env.clock.now() + 1ms,
                               [self](keel::ResMut<TimerWheel> w, keel::ResMut<Log> log, Instant at) {
                                 log->fired.push_back(Fired{0, at, 0});
                                 if (log->fired.size() < 5) {
                                   EXPECT_TRUE(w->reschedule(*self, at + 2ms));
                                 }
                               });
  for (int i = 0; i < 20; ++i) env.advance_and_poll(1ms);
  ASSERT_EQ(env.log().fired.size(), 5u);
  for (std::size_t k = 0; k < 5; ++k) EXPECT_EQ(env.log().fired[k].at, Instant{} + 1ms + 2ms * k);
  EXPECT_FALSE(env.wheel().contains(*self));
  EXPECT_TRUE(env.wheel().empty());
}

TEST(TimerWheel, FiringNamesTheTimerWhoseHandlerRunsAndIsEmptyOtherwise) {
  Env env;
  auto seen = std::make_shared<std::vector<TimerToken>>();
  auto record = [seen](keel::ResMut<TimerWheel> w, Instant at) {
    seen->push_back(w->firing());
    if (seen->size() == 1) w->reschedule(w->firing(), at + 1ms);  // re-arm itself once
  };
  const TimerToken a = env.wheel().schedule(env.clock.now() + 1ms, record);
  const TimerToken b = env.wheel().schedule_periodic(
      env.clock.now() + 5ms, 10ms, [seen](keel::Res<TimerWheel> w, Instant) { seen->push_back(w->firing()); });
  EXPECT_FALSE(env.wheel().firing());
  env.advance_and_poll(1ms);
  env.advance_and_poll(1ms);
  env.advance_and_poll(3ms);
  EXPECT_EQ(*seen, (std::vector<TimerToken>{a, a, b}));
  EXPECT_FALSE(env.wheel().firing());
}

TEST(TimerWheel, AFiringOneShotCannotCancelItselfButCanUndoItsOwnReschedule) {
  Env env;
  auto self = std::make_shared<TimerToken>();
  auto results = std::make_shared<std::vector<bool>>();
  *self = env.wheel().schedule(env.clock.now() + 1ms, [self, results](keel::ResMut<TimerWheel> w, Instant at) {
    results->push_back(w->cancel(*self));                // false: it is firing, so it has fired
    results->push_back(w->reschedule(*self, at + 1ms));  // true: armed again
    results->push_back(w->contains(*self));              // true
    results->push_back(w->cancel(*self));                // true: the re-arm is undone
    results->push_back(w->contains(*self));              // false
  });
  EXPECT_EQ(env.advance_and_poll(1ms), 1u);
  EXPECT_EQ(*results, (std::vector<bool>{false, true, true, true, false}));
  EXPECT_TRUE(env.wheel().empty());
  EXPECT_EQ(env.advance_and_poll(1s), 0u);
}

// A cancelled token is inert however it was cancelled: cancelling a timer
// from inside its own handler ends it as cancelling a pending one does, and
// reschedule() cannot bring it back.
TEST(TimerWheel, APeriodicTimerCancelledWhileItFiresCannotBeRescheduled) {
  Env env;
  auto results = std::make_shared<std::vector<bool>>();
  auto fires = std::make_shared<int>(0);
  const TimerToken t = env.wheel().schedule_periodic(
      env.clock.now() + 1ms, 1ms, [results, fires](keel::ResMut<TimerWheel> w, Instant at) {
        ++*fires;
        results->push_back(w->cancel(w->firing()));                // true: it fires no more
        results->push_back(w->reschedule(w->firing(), at + 5ms));  // false: cancelled
        results->push_back(w->contains(w->firing()));              // false
      });
  EXPECT_EQ(env.advance_and_poll(1ms), 1u);
  EXPECT_EQ(*results, (std::vector<bool>{true, false, false}));
  EXPECT_FALSE(env.wheel().contains(t));
  EXPECT_EQ(env.wheel().deadline(t), std::nullopt);
  EXPECT_TRUE(env.wheel().empty());
  EXPECT_EQ(env.wheel().next_deadline(), std::nullopt);
  EXPECT_EQ(env.advance_and_poll(1s), 0u);
  EXPECT_EQ(*fires, 1);
}

TEST(TimerWheel, AOneShotThatReArmedAndCancelledItselfWhileFiringCannotBeRescheduled) {
  Env env;
  auto results = std::make_shared<std::vector<bool>>();
  auto fires = std::make_shared<int>(0);
  const TimerToken t =
      env.wheel().schedule(env.clock.now() + 1ms, [results, fires](keel::ResMut<TimerWheel> w, Instant at) {
        ++*fires;
        results->push_back(w->reschedule(w->firing(), at + 1ms));  // true: armed again
        results->push_back(w->cancel(w->firing()));                // true: the re-arm is cancelled
        results->push_back(w->reschedule(w->firing(), at + 2ms));  // false: cancelled
        results->push_back(w->cancel(w->firing()));                // false: cancelled
      });
  EXPECT_EQ(env.advance_and_poll(1ms), 1u);
  EXPECT_EQ(*results, (std::vector<bool>{true, true, false, false}));
  EXPECT_FALSE(env.wheel().contains(t));
  EXPECT_TRUE(env.wheel().empty());
  EXPECT_EQ(env.advance_and_poll(1s), 0u);
  EXPECT_EQ(*fires, 1);
}

TEST(TimerWheel, ATimerScheduledDuringAPollFiresInALaterPollEvenIfAlreadyDue) {
  Env env;
  env.wheel().schedule(env.clock.now() + 1ms, [](keel::ResMut<TimerWheel> w, keel::RegistryRef reg, Instant at) {
    // Already past, and zero delay: both wait for the next poll.
    w->schedule(at - 1ms, keel::handler(*reg, [](keel::ResMut<Log> log, Instant a) {
                  log->fired.push_back(Fired{10, a, 0});
                }));
    w->schedule(at, keel::handler(*reg, [](keel::ResMut<Log> log, Instant a) {
                  log->fired.push_back(Fired{11, a, 0});
                }));
  });
  EXPECT_EQ(env.advance_and_poll(5ms), 1u);
  EXPECT_TRUE(env.log().fired.empty());
  EXPECT_EQ(env.wheel().next_deadline(), Instant{});  // 1 ms - 1 ms
  EXPECT_EQ(env.poll(), 2u);                          // same `now`: both due
  EXPECT_EQ(env.log().ids(), (std::vector<int>{10, 11}));
}

TEST(TimerWheel, SlabGrowthDuringAPollKeepsEveryHandlerIntact) {
  // The first handler schedules far more timers than the initial capacity;
  // the handlers moved by the growth (and the running one) stay usable.
  Env env(keel::TimerInstaller{.capacity = 4});
  for (int i = 0; i < 3; ++i) env.in(1ms + 1us * i, i);
  env.wheel().schedule(env.clock.now() + 1ms - 1ns, [](keel::ResMut<TimerWheel> w, keel::RegistryRef reg, Instant at) {
    for (int k = 0; k < 1000; ++k) {
      w->schedule(at + 1s + 1us * k, keel::handler(*reg, [k](keel::ResMut<Log> log, Instant a) {
                    log->fired.push_back(Fired{100 + k, a, 0});
                  }));
    }
  });
  EXPECT_EQ(env.advance_and_poll(1ms + 5us), 4u);
  EXPECT_EQ(env.log().ids(), (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(env.advance_and_poll(2s), 1000u);
  EXPECT_EQ(env.log().fired.size(), 1003u);
  EXPECT_EQ(env.log().fired.back().id, 1099);
}

TEST(TimerWheel, PollingFromInsideATimerHandlerIsAConfigError) {
  Env env;
  keel::TimerPoller poller = env.poller();
  auto message = std::make_shared<std::string>();
  env.wheel().schedule(env.clock.now() + 1ms, [poller, message, &env](Instant at) mutable {
    env.in(0ns, 5);  // due, so the nested poll does not take the fast path
    *message = keel_test::config_error_message([&] { poller.poll(env.world(), at); });
  });
  EXPECT_EQ(env.advance_and_poll(1ms), 1u);
  EXPECT_NE(message->find("polls cannot nest"), std::string::npos) << *message;
  EXPECT_FALSE(env.wheel().polling());
  EXPECT_EQ(env.poll(), 1u);
}

TEST(TimerWheel, PollingAnotherWorldIsAConfigError) {
  Env env;
  Env other;
  env.in(1ms, 1);
  env.clock.advance(1ms);
  EXPECT_THROW(env.poller().poll(other.world(), env.clock.now()), keel::ConfigError);
  EXPECT_EQ(env.poll(), 1u);
}

// A wheel is bound to the World whose registry built its handlers, not to
// the World's resource slot: a wheel the World does not own (an async
// Runtime's) fires when polled with that World, and only with it.
TEST(TimerWheel, AWheelBuiltOnAWorldsRegistryFiresWithThatWorldOnly) {
  Env env;
  Env other;
  TimerWheel own(env.registry(), 100us, 4);
  int fired = 0;
  own.schedule(env.clock.now() + 1ms, [&fired](Instant) { ++fired; });
  env.clock.advance(1ms);
  EXPECT_THROW(keel::TimerPoller(own).poll(other.world(), env.clock.now()), keel::ConfigError);
  EXPECT_EQ(keel::TimerPoller(own).poll(env.world(), env.clock.now()), 1u);
  EXPECT_EQ(fired, 1);
}

TEST(TimerWheel, AThrowingHandlerPropagatesAndTheRestFireInTheNextPoll) {
  Env env;
  env.in(1ms, 1);
  env.wheel().schedule(env.clock.now() + 2ms, [](Instant) { throw std::runtime_error("boom"); });
  env.in(3ms, 3);
  env.in(4ms, 4);
  env.clock.advance(5ms);
  EXPECT_THROW(env.poll(), std::runtime_error);
  EXPECT_EQ(env.log().ids(), std::vector<int>{1});
  EXPECT_FALSE(env.wheel().polling());
  EXPECT_EQ(env.wheel().size(), 2u);
  EXPECT_EQ(env.wheel().next_deadline(), Instant{} + 3ms);
  env.at(Instant{} + 2500us, 0);  // already past, earlier than the left-overs: still ordered
  EXPECT_EQ(env.poll(), 3u);
  EXPECT_EQ(env.log().ids(), (std::vector<int>{1, 0, 3, 4}));
}

TEST(TimerWheel, AThrowingPeriodicTimerStaysArmed) {
  Env env;
  auto fires = std::make_shared<int>(0);
  env.wheel().schedule_periodic(env.clock.now() + 1ms, 1ms, [fires](Instant) {
    if (++*fires == 2) throw std::runtime_error("second");
  });
  EXPECT_EQ(env.advance_and_poll(1ms), 1u);
  env.clock.advance(1ms);
  EXPECT_THROW(env.poll(), std::runtime_error);
  EXPECT_EQ(env.advance_and_poll(1ms), 1u);
  EXPECT_EQ(*fires, 3);
  EXPECT_EQ(env.wheel().size(), 1u);
}

// --- periodic ---------------------------------------------------------------------------

TEST(TimerWheel, APeriodicTimerFiresEveryPeriodWithItsScheduledInstants) {
  Env env;
  const TimerToken t = env.wheel().schedule_periodic(env.clock.now() + 10ms, 10ms, env.logger(1));
  for (int i = 0; i < 100; ++i) env.advance_and_poll(1ms);
  ASSERT_EQ(env.log().fired.size(), 10u);
  for (std::size_t k = 0; k < 10; ++k) EXPECT_EQ(env.log().fired[k].at, Instant{} + 10ms * (k + 1));
  EXPECT_TRUE(env.wheel().contains(t));
  EXPECT_EQ(env.wheel().deadline(t), Instant{} + 110ms);
  EXPECT_EQ(env.wheel().size(), 1u);
  EXPECT_TRUE(env.wheel().cancel(t));
  EXPECT_EQ(env.advance_and_poll(1s), 0u);
  EXPECT_TRUE(env.wheel().empty());
}

TEST(TimerWheel, APeriodicTimerCanCancelItselfFromItsHandler) {
  Env env;
  auto self = std::make_shared<TimerToken>();
  *self = env.wheel().schedule_periodic(env.clock.now() + 1ms, 1ms,
                                        [self](keel::ResMut<TimerWheel> w, keel::ResMut<Log> log, Instant at) {
                                          log->fired.push_back(Fired{1, at, 0});
                                          if (log->fired.size() == 3) {
                                            EXPECT_TRUE(w->cancel(*self));
                                          }
                                        });
  for (int i = 0; i < 10; ++i) env.advance_and_poll(1ms);
  EXPECT_EQ(env.log().fired.size(), 3u);
  EXPECT_FALSE(env.wheel().contains(*self));
  EXPECT_FALSE(env.wheel().cancel(*self));
  EXPECT_TRUE(env.wheel().empty());
}

TEST(TimerWheel, AStalledPollFiresAPeriodicTimerOnceAndSkipsTheMissedPeriodsByDefault) {
  Env env;
  env.wheel().schedule_periodic(env.clock.now() + 10ms, 10ms, env.logger(1));
  EXPECT_EQ(env.advance_and_poll(55ms), 1u);  // 10 ms fires; 20..50 are skipped
  EXPECT_EQ(env.poll(), 0u);
  EXPECT_EQ(env.wheel().next_deadline(), Instant{} + 60ms);  // phase kept
  EXPECT_EQ(env.advance_and_poll(5ms), 1u);
  ASSERT_EQ(env.log().fired.size(), 2u);
  EXPECT_EQ(env.log().fired[1].at, Instant{} + 60ms);
}

// deadline() of a firing periodic timer is the deadline the wheel re-arms
// it at, whatever the missed-ticks mode: after a late poll under kSkip, the
// first period boundary after the poll's `now`.
TEST(TimerWheel, DeadlineOfAFiringPeriodicTimerIsTheDeadlineItReArmsAt) {
  struct Case {
    keel::MissedTicks missed;
    std::chrono::nanoseconds poll_at;
    Instant expected;
  };
  for (const Case& c : {Case{keel::MissedTicks::kSkip, 10ms, Instant{} + 20ms},
                        Case{keel::MissedTicks::kSkip, 55ms, Instant{} + 60ms},
                        Case{keel::MissedTicks::kSkip, 60ms, Instant{} + 70ms},
                        Case{keel::MissedTicks::kBurst, 55ms, Instant{} + 20ms}}) {
    Env env;
    auto seen = std::make_shared<std::optional<Instant>>();
    env.wheel().schedule_periodic(
        env.clock.now() + 10ms, 10ms, [seen](keel::Res<TimerWheel> w, Instant) { *seen = w->deadline(w->firing()); },
        c.missed);
    EXPECT_EQ(env.advance_and_poll(c.poll_at), 1u);
    EXPECT_EQ(*seen, c.expected) << "poll at " << c.poll_at.count() << " ns";
    EXPECT_EQ(env.wheel().next_deadline(), c.expected) << "poll at " << c.poll_at.count() << " ns";
  }
}

TEST(TimerWheel, ABurstPeriodicTimerCatchesUpOnePeriodPerPoll) {
  Env env;
  env.wheel().schedule_periodic(env.clock.now() + 10ms, 10ms, env.logger(1), keel::MissedTicks::kBurst);
  env.clock.advance(55ms);
  std::size_t polls = 0;
  while (env.poll() > 0) ++polls;
  EXPECT_EQ(polls, 5u);
  ASSERT_EQ(env.log().fired.size(), 5u);
  for (std::size_t k = 0; k < 5; ++k) EXPECT_EQ(env.log().fired[k].at, Instant{} + 10ms * (k + 1));
  EXPECT_EQ(env.wheel().next_deadline(), Instant{} + 60ms);
}

TEST(TimerWheel, APeriodicTimerMayMoveItsNextFiringWithReschedule) {
  Env env;
  auto self = std::make_shared<TimerToken>();
  *self = env.wheel().schedule_periodic(env.clock.now() + 10ms, 10ms,
                                        [self](keel::ResMut<TimerWheel> w, keel::ResMut<Log> log, Instant at) {
                                          log->fired.push_back(Fired{1, at, 0});
                                          if (log->fired.size() == 1) w->reschedule(*self, at + 3ms);
                                        });
  for (int i = 0; i < 40; ++i) env.advance_and_poll(1ms);
  ASSERT_EQ(env.log().fired.size(), 4u);
  EXPECT_EQ(env.log().fired[0].at, Instant{} + 10ms);
  EXPECT_EQ(env.log().fired[1].at, Instant{} + 13ms);
  EXPECT_EQ(env.log().fired[2].at, Instant{} + 23ms);
  EXPECT_EQ(env.log().fired[3].at, Instant{} + 33ms);
}

TEST(TimerWheel, APeriodMustBePositive) {
  Env env;
  EXPECT_THROW(env.wheel().schedule_periodic(env.clock.now(), 0ns, env.logger(1)), keel::ConfigError);
  EXPECT_THROW(env.wheel().schedule_periodic(env.clock.now(), -1ms, env.logger(1)), keel::ConfigError);
  EXPECT_TRUE(env.wheel().empty());
}

// --- range ---------------------------------------------------------------------------------

TEST(TimerWheel, DeadlinesInEveryLevelAndBeyondTheWheelFireExactlyOnTime) {
  // With 100 µs ticks and 256 buckets a level, level L spans 256^(L+1)
  // ticks: 25.6 ms, 6.5 s, 28 min, 5 days and 3.5 years; later deadlines
  // wait in the overflow list. Each boundary, either side of it.
  Env env;
  std::vector<std::chrono::nanoseconds> offsets;
  std::chrono::nanoseconds span = 100us;
  for (int level = 0; level < TimerWheel::kLevels; ++level) {
    span *= TimerWheel::kSlots;
    offsets.push_back(span - 1ns);
    offsets.push_back(span);
    offsets.push_back(span + 12345ns);
  }
  offsets.push_back(std::chrono::hours(24 * 365 * 3));  // three years
  offsets.push_back(std::chrono::hours(24 * 365 * 30));
  std::sort(offsets.begin(), offsets.end());
  for (std::size_t i = 0; i < offsets.size(); ++i) env.at(Instant{} + offsets[i], static_cast<int>(i));
  EXPECT_EQ(env.wheel().size(), offsets.size());

  for (std::size_t i = 0; i < offsets.size(); ++i) {
    EXPECT_EQ(env.wheel().next_deadline(), Instant{} + offsets[i]);
    env.clock.set(Instant{} + offsets[i] - 1ns);
    EXPECT_EQ(env.poll(), 0u) << "offset " << offsets[i].count() << " ns fired early";
    env.clock.set(Instant{} + offsets[i]);
    EXPECT_EQ(env.poll(), 1u) << "offset " << offsets[i].count() << " ns did not fire";
  }
  EXPECT_EQ(env.log().fired.size(), offsets.size());
  EXPECT_TRUE(env.wheel().empty());
}

TEST(TimerWheel, FarFutureTimersScheduledLaterStillFireInOrder) {
  // Timers scheduled in the overflow list, then nearer ones scheduled after
  // time has moved on: the order is by deadline throughout.
  Env env;
  env.at(Instant{} + std::chrono::hours(24 * 200), 1);
  env.at(Instant{} + std::chrono::hours(24 * 100), 2);
  env.advance_and_poll(std::chrono::hours(24 * 90));
  env.in(std::chrono::hours(24 * 5), 3);    // day 95
  env.in(std::chrono::hours(24 * 150), 4);  // day 240
  env.in(std::chrono::hours(24 * 105), 5);  // day 195
  EXPECT_EQ(env.advance_and_poll(std::chrono::hours(24 * 365)), 5u);
  EXPECT_EQ(env.log().ids(), (std::vector<int>{3, 2, 5, 1, 4}));
}

TEST(TimerWheel, OverflowTimersMoveIntoTheWheelWhenTimeComesWithinItsRange) {
  // The wheel spans 256^5 ticks (3.5 years at 100 µs) from its current
  // tick; a 5-year deadline waits in the overflow list until a poll brings
  // the current tick close enough, then orders with timers scheduled later.
  Env env;
  const Instant five_years = Instant{} + std::chrono::hours(24 * 365 * 5);
  env.at(five_years, 1);
  env.at(Instant{}, 5);  // due at once: makes the next poll advance the wheel
  env.clock.set(Instant{} + std::chrono::hours(24 * 365 * 3 + 24 * 200));
  EXPECT_EQ(env.poll(), 1u);
  EXPECT_EQ(env.wheel().next_deadline(), five_years);
  env.at(five_years - 1ns, 2);
  env.at(five_years + 1ns, 3);
  env.at(five_years, 4);
  env.clock.set(five_years);
  EXPECT_EQ(env.poll(), 3u);
  EXPECT_EQ(env.log().ids(), (std::vector<int>{5, 2, 1, 4}));
  EXPECT_EQ(env.advance_and_poll(1ns), 1u);
}

TEST(TimerWheel, AWheelStartingLongAfterTheClockEpochWorks) {
  // Real steady-clock instants are days of uptime past the epoch: the first
  // schedule lands in a high level or, as here (10 years), the overflow list.
  const Instant start = Instant{} + std::chrono::hours(24 * 365 * 10) + 123456789ns;
  Env env(keel::TimerInstaller{}, start);
  env.in(1ms, 1);
  env.in(500us, 2);
  env.in(1h, 3);
  EXPECT_EQ(env.wheel().next_deadline(), start + 500us);
  EXPECT_EQ(env.advance_and_poll(1ms), 2u);
  EXPECT_EQ(env.wheel().next_deadline(), start + 1h);
  EXPECT_EQ(env.advance_and_poll(1h), 1u);
  EXPECT_EQ(env.log().ids(), (std::vector<int>{2, 1, 3}));
}

TEST(TimerWheel, DeadlinesInThePastFireOnTheNextPoll) {
  Env env(keel::TimerInstaller{}, Instant{} + 10s);
  env.advance_and_poll(1s);
  env.at(env.clock.now() - 5s, 1);
  env.at(Instant{} - 1h, 2);  // before the clock's epoch
  env.at(env.clock.now(), 3);
  EXPECT_EQ(env.wheel().next_deadline(), Instant{} - 1h);
  EXPECT_EQ(env.poll(), 3u);
  EXPECT_EQ(env.log().ids(), (std::vector<int>{2, 1, 3}));
}

TEST(TimerWheel, AClockSetBackwardsFiresOnlyWhatIsDueAtTheEarlierTime) {
  Env env;
  env.in(10ms, 1);
  env.in(20ms, 2);
  env.advance_and_poll(15ms);
  env.clock.set(Instant{} + 5ms);
  env.at(Instant{} + 4ms, 3);
  env.at(Instant{} + 17ms, 4);
  EXPECT_EQ(env.poll(), 1u);
  EXPECT_EQ(env.log().ids(), (std::vector<int>{1, 3}));
  env.clock.set(Instant{} + 30ms);
  EXPECT_EQ(env.poll(), 2u);
  EXPECT_EQ(env.log().ids(), (std::vector<int>{1, 3, 4, 2}));
}

TEST(TimerWheel, ADeadlineOfInstantMaxNeverFires) {
  Env env;
  const TimerToken never = env.at(Instant::max(), 1);
  EXPECT_EQ(env.wheel().size(), 1u);
  EXPECT_EQ(env.wheel().next_deadline(), std::nullopt);
  env.clock.set(Instant{} + std::chrono::hours(24 * 365 * 100));
  EXPECT_EQ(env.poll(), 0u);
  EXPECT_TRUE(env.wheel().cancel(never));
}

TEST(TimerWheel, OrderingIsExactAtAnyResolution) {
  for (const auto resolution : {std::chrono::nanoseconds(1), std::chrono::nanoseconds(1us),
                                std::chrono::nanoseconds(1ms), std::chrono::nanoseconds(1s)}) {
    Env env(keel::TimerInstaller{.resolution = resolution});
    std::mt19937_64 rng(3);
    std::vector<std::pair<Instant, int>> expected;
    for (int i = 0; i < 500; ++i) {
      const auto d = Instant{} + std::chrono::nanoseconds(rng() % 5'000'000'000);
      env.at(d, i);
      expected.emplace_back(d, i);
    }
    std::stable_sort(expected.begin(), expected.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    while (env.log().fired.size() < expected.size()) env.advance_and_poll(std::chrono::nanoseconds(rng() % 30'000'000));
    for (std::size_t k = 0; k < expected.size(); ++k) {
      ASSERT_EQ(env.log().fired[k].id, expected[k].second) << "resolution " << resolution.count() << " ns";
    }
  }
}

TEST(TimerWheel, AZeroResolutionIsAConfigError) {
  keel::WorldBuilder wb;
  EXPECT_THROW(wb.install_driver(keel::TimerInstaller{.resolution = 0ns}), keel::ConfigError);
}

// --- next_deadline and size --------------------------------------------------------------------

TEST(TimerWheel, NextDeadlineFollowsSchedulesCancelsAndFirings) {
  Env env;
  TimerWheel& w = env.wheel();
  EXPECT_EQ(w.next_deadline(), std::nullopt);
  const TimerToken a = env.in(50ms, 1);
  EXPECT_EQ(w.next_deadline(), Instant{} + 50ms);
  const TimerToken b = env.in(20ms, 2);
  EXPECT_EQ(w.next_deadline(), Instant{} + 20ms);
  const TimerToken c = env.in(30s, 3);
  EXPECT_EQ(w.next_deadline(), Instant{} + 20ms);
  EXPECT_TRUE(w.cancel(b));
  EXPECT_EQ(w.next_deadline(), Instant{} + 50ms);
  EXPECT_TRUE(w.reschedule(c, Instant{} + 10ms));
  EXPECT_EQ(w.next_deadline(), Instant{} + 10ms);
  EXPECT_EQ(env.poller().next_deadline(), Instant{} + 10ms);
  EXPECT_EQ(env.advance_and_poll(10ms), 1u);
  EXPECT_EQ(w.next_deadline(), Instant{} + 50ms);
  EXPECT_TRUE(w.reschedule(a, Instant{} + 2h));
  EXPECT_EQ(w.next_deadline(), Instant{} + 2h);
  EXPECT_TRUE(w.cancel(a));
  EXPECT_EQ(w.next_deadline(), std::nullopt);
}

TEST(TimerWheel, NextDeadlineSeenFromAHandlerCountsTheTimersStillDueInThatPoll) {
  Env env;
  auto seen = std::make_shared<std::vector<std::optional<Instant>>>();
  for (int i = 1; i <= 3; ++i) {
    env.wheel().schedule(Instant{} + 1ms * i,
                         [seen](keel::Res<TimerWheel> w, Instant) { seen->push_back(w->next_deadline()); });
  }
  env.in(1h, 9);
  EXPECT_EQ(env.advance_and_poll(5ms), 3u);
  EXPECT_EQ(*seen, (std::vector<std::optional<Instant>>{Instant{} + 2ms, Instant{} + 3ms, Instant{} + 1h}));
}

TEST(TimerWheel, SizeCountsTimersThatWillStillFire) {
  Env env;
  TimerWheel& w = env.wheel();
  EXPECT_TRUE(w.empty());
  const TimerToken a = env.in(1ms, 1);
  env.in(2ms, 2);
  const TimerToken p = w.schedule_periodic(env.clock.now() + 1ms, 1ms, env.logger(3));
  EXPECT_EQ(w.size(), 3u);
  EXPECT_TRUE(w.cancel(a));
  EXPECT_EQ(w.size(), 2u);
  env.advance_and_poll(2ms);
  EXPECT_EQ(w.size(), 1u);  // the periodic one
  EXPECT_TRUE(w.cancel(p));
  EXPECT_EQ(w.size(), 0u);
}

TEST(TimerWheel, DeadlineOfATokenIsItsNextFiring) {
  Env env;
  const TimerToken a = env.in(7ms, 1);
  EXPECT_EQ(env.wheel().deadline(a), Instant{} + 7ms);
  env.advance_and_poll(7ms);
  EXPECT_EQ(env.wheel().deadline(a), std::nullopt);
}

// --- handler kinds -------------------------------------------------------------------------------

struct Book {
  int stale_quotes = 0;
};
struct QuoteTimeout {
  int instrument;
  int fired = 0;
};

void on_quote_timeout(QuoteTimeout& ctx, keel::ResMut<Book> book, keel::Res<Limits> limits, Instant) {
  ++ctx.fired;
  if (book->stale_quotes < limits->max_fires) ++book->stale_quotes;
}

void on_tick(keel::ResMut<Log> log, const Instant& at) { log->fired.push_back(Fired{77, at, 0}); }

TEST(TimerWheel, HandlersWithResAndResMutParametersSeeTheirResources) {
  keel::WorldBuilder wb;
  wb.emplace<Book>();
  wb.insert(Limits{.max_fires = 2});
  wb.emplace<Log>();
  auto timers = wb.install_driver(keel::TimerInstaller{});
  keel::World world = std::move(wb).build();
  auto& wheel = world.resource<TimerWheel>();
  VirtualClock clock;
  for (int i = 0; i < 3; ++i) {
    wheel.schedule(clock.now() + 1ms * (i + 1), keel::callback(QuoteTimeout{i}, world.registry(), on_quote_timeout));
  }
  wheel.schedule(clock.now() + 5ms, keel::handler(world.registry(), on_tick));  // const Instant& event
  wheel.schedule(clock.now() + 6ms, on_tick);                                   // built by the wheel
  wheel.schedule(clock.now() + 7ms, keel::fn<&on_tick>);
  clock.advance(10ms);
  EXPECT_EQ(timers.poll(world, clock.now()), 6u);
  EXPECT_EQ(world.resource<Book>().stale_quotes, 2);
  ASSERT_EQ(world.resource<Log>().fired.size(), 3u);
  EXPECT_EQ(world.resource<Log>().fired[0].at, Instant{} + 5ms);
  EXPECT_EQ(world.resource<Log>().fired[2].at, Instant{} + 7ms);
}

TEST(TimerWheel, AScheduleWithAMissingResourceThrowsAndSchedulesNothing) {
  Env env;
  EXPECT_THROW(env.wheel().schedule(env.clock.now(), [](keel::ResMut<Book>, Instant) {}), keel::ConfigError);
  EXPECT_TRUE(env.wheel().empty());
  EXPECT_EQ(env.wheel().next_deadline(), std::nullopt);
}

TEST(TimerWheel, BoxedAndInlineHandlersAreAccepted) {
  Env env;
  std::unique_ptr<keel::Handler<Instant>> boxed = keel::boxed(env.logger(1));
  std::unique_ptr<keel::Handler<const Instant&>> boxed_ref = keel::boxed(keel::handler(env.registry(), on_tick));
  keel::InlineHandler<Instant, 64> inline_handler = env.logger(3);
  env.wheel().schedule(env.clock.now() + 1ms, std::move(boxed));
  env.wheel().schedule(env.clock.now() + 2ms, std::move(boxed_ref));
  env.wheel().schedule(env.clock.now() + 3ms, std::move(inline_handler));
  EXPECT_EQ(env.advance_and_poll(5ms), 3u);
  EXPECT_EQ(env.log().ids(), (std::vector<int>{1, 77, 3}));
}

TEST(TimerWheel, AHandlerTooBigToStoreInlineIsBoxedAndStillFires) {
  Env env;
  std::array<std::int64_t, 32> big{};  // 256 bytes of captures
  big[31] = 41;
  auto h = keel::handler(env.registry(), [big](keel::ResMut<Log> log, Instant at) {
    log->fired.push_back(Fired{static_cast<int>(big[31] + 1), at, 0});
  });
  static_assert(!TimerWheel::stores_inline<decltype(h)>);
  static_assert(TimerWheel::stores_inline<decltype(env.logger(0))>);
  const TimerToken t = env.wheel().schedule(env.clock.now() + 1ms, std::move(h));
  EXPECT_TRUE(env.wheel().reschedule(t, env.clock.now() + 2ms));
  EXPECT_EQ(env.advance_and_poll(2ms), 1u);
  EXPECT_EQ(env.log().ids(), std::vector<int>{42});
}

// --- randomized: the wheel against a naive model ---------------------------------------------------

// The model: every pending timer in a list. A poll fires, in (deadline, seq)
// order, the timers pending and due when it starts, skipping those cancelled
// or rescheduled by earlier handlers of the same poll.
class Model {
 public:
  struct Timer {
    Instant deadline;
    std::uint64_t seq = 0;
    bool pending = false;
  };
  void schedule(int id, Instant d) {
    if (static_cast<std::size_t>(id) >= timers_.size()) timers_.resize(static_cast<std::size_t>(id) + 1);
    timers_[static_cast<std::size_t>(id)] = Timer{d, ++seq_, true};
  }
  bool cancel(int id) {
    Timer& t = timers_[static_cast<std::size_t>(id)];
    const bool was = t.pending;
    t.pending = false;
    return was;
  }
  bool reschedule(int id, Instant d) {
    Timer& t = timers_[static_cast<std::size_t>(id)];
    if (!t.pending) return false;
    t.deadline = d;
    t.seq = ++seq_;
    return true;
  }
  template <class OnFire>
  std::size_t poll(Instant now, OnFire on_fire) {
    std::vector<std::pair<int, std::uint64_t>> due;
    for (std::size_t i = 0; i < timers_.size(); ++i) {
      if (timers_[i].pending && timers_[i].deadline <= now) due.emplace_back(static_cast<int>(i), timers_[i].seq);
    }
    std::sort(due.begin(), due.end(), [&](const auto& a, const auto& b) {
      const Timer& x = timers_[static_cast<std::size_t>(a.first)];
      const Timer& y = timers_[static_cast<std::size_t>(b.first)];
      return x.deadline != y.deadline ? x.deadline < y.deadline : x.seq < y.seq;
    });
    std::size_t fired = 0;
    for (const auto& [id, seq] : due) {
      Timer& t = timers_[static_cast<std::size_t>(id)];
      if (!t.pending || t.seq != seq) continue;
      t.pending = false;
      ++fired;
      on_fire(id, t.deadline);
    }
    return fired;
  }

 private:
  std::vector<Timer> timers_;
  std::uint64_t seq_ = 0;
};

// What a fired timer does: a pure function of (its id, the fire count) so
// that the wheel and the model perform the same actions if they fire the
// same timers in the same order.
struct Action {
  enum Kind { kNothing, kSchedule, kCancel, kReschedule } kind;
  int target;                      // kCancel, kReschedule
  std::chrono::nanoseconds delay;  // from the firing deadline; may be negative
};
Action action_for(int id, std::size_t count, int timers_so_far) {
  std::mt19937_64 rng(static_cast<std::uint64_t>(id) * 1'000'003u + count);
  const auto kind = static_cast<Action::Kind>(rng() % 4);
  const int target = static_cast<int>(rng() % static_cast<std::uint64_t>(timers_so_far));
  const auto delay = std::chrono::nanoseconds(static_cast<std::int64_t>(rng() % 40'000'000) - 5'000'000);
  return Action{kind, target == id ? -1 : target, delay};
}

struct Trace {
  std::vector<std::string> lines;
};

TEST(TimerWheel, RandomSchedulesCancelsAndReschedulesMatchANaiveModel) {
  for (const std::uint64_t seed : {1u, 2u, 3u, 4u}) {
    Env env(keel::TimerInstaller{.resolution = 250us, .capacity = 8});
    Model model;
    std::mt19937_64 rng(seed);
    std::vector<TimerToken> tokens;
    std::vector<std::string> wheel_trace, model_trace;
    std::size_t fire_count = 0;

    struct Shared {
      std::vector<TimerToken>* tokens;
      std::vector<std::string>* trace;
      std::size_t* count;
      const keel::Registry* registry;
    };
    Shared shared{&tokens, &wheel_trace, &fire_count, &env.registry()};

    // Schedules timer `id` on the wheel; its handler performs action_for().
    std::function<void(TimerWheel&, int, Instant)> schedule_on_wheel = [&](TimerWheel& w, int id, Instant d) {
      const TimerToken t = w.schedule(d, [id, shared, &schedule_on_wheel](keel::ResMut<TimerWheel> wheel, Instant at) {
        const std::size_t n = (*shared.count)++;
        shared.trace->push_back("fire " + std::to_string(id) + " @" + std::to_string(at.time_since_epoch().count()));
        const Action a = action_for(id, n, static_cast<int>(shared.tokens->size()));
        if (a.kind == Action::kSchedule) {
          schedule_on_wheel(*wheel, static_cast<int>(shared.tokens->size()), at + a.delay);
        } else if (a.kind == Action::kCancel && a.target >= 0) {
          shared.trace->push_back("cancel " +
                                  std::to_string(wheel->cancel((*shared.tokens)[static_cast<std::size_t>(a.target)])));
        } else if (a.kind == Action::kReschedule && a.target >= 0) {
          shared.trace->push_back(
              "resched " +
              std::to_string(wheel->reschedule((*shared.tokens)[static_cast<std::size_t>(a.target)], at + a.delay)));
        }
      });
      if (static_cast<std::size_t>(id) == tokens.size()) {
        tokens.push_back(t);
      } else {
        tokens[static_cast<std::size_t>(id)] = t;
      }
    };
    std::size_t model_count = 0;
    int model_timers = 0;
    auto model_fire = [&](auto& self, int id, Instant at) -> void {
      const std::size_t n = model_count++;
      model_trace.push_back("fire " + std::to_string(id) + " @" + std::to_string(at.time_since_epoch().count()));
      const Action a = action_for(id, n, model_timers);
      if (a.kind == Action::kSchedule) {
        model.schedule(model_timers++, at + a.delay);
      } else if (a.kind == Action::kCancel && a.target >= 0) {
        model_trace.push_back("cancel " + std::to_string(model.cancel(a.target)));
      } else if (a.kind == Action::kReschedule && a.target >= 0) {
        model_trace.push_back("resched " + std::to_string(model.reschedule(a.target, at + a.delay)));
      }
      (void)self;
    };

    for (int step = 0; step < 3000; ++step) {
      const std::uint64_t op = rng() % 10;
      if (op < 4 || tokens.empty()) {
        // Mostly near deadlines, sometimes far ones (up to 3 days), now and
        // then beyond the wheel's range (up to 6 years).
        const std::uint64_t far = rng() % 16;
        const auto delay = far == 0  ? std::chrono::nanoseconds(rng() % 189'216'000'000'000'000)
                           : far < 3 ? std::chrono::nanoseconds(rng() % 259'200'000'000'000)
                                     : std::chrono::nanoseconds(rng() % 60'000'000) - 2ms;
        const Instant d = env.clock.now() + delay;
        schedule_on_wheel(env.wheel(), static_cast<int>(tokens.size()), d);
        model.schedule(model_timers++, d);
      } else if (op < 6) {
        const int id = static_cast<int>(rng() % tokens.size());
        const bool a = env.wheel().cancel(tokens[static_cast<std::size_t>(id)]);
        const bool b = model.cancel(id);
        ASSERT_EQ(a, b) << "cancel of " << id << " at step " << step;
      } else if (op < 7) {
        const int id = static_cast<int>(rng() % tokens.size());
        const Instant d = env.clock.now() + std::chrono::nanoseconds(rng() % 30'000'000);
        ASSERT_EQ(env.wheel().reschedule(tokens[static_cast<std::size_t>(id)], d), model.reschedule(id, d));
      } else {
        const std::uint64_t jump = rng() % 100;
        const auto advance = jump == 0  ? std::chrono::nanoseconds(rng() % 40'000'000'000'000'000)  // up to 15 months
                             : jump < 3 ? std::chrono::nanoseconds(rng() % 100'000'000'000'000)
                                        : std::chrono::nanoseconds(rng() % 8'000'000);
        env.clock.advance(advance);
        const std::size_t a = env.poll();
        const std::size_t b = model.poll(env.clock.now(), [&](int id, Instant at) { model_fire(model_fire, id, at); });
        ASSERT_EQ(a, b) << "poll at step " << step << ", seed " << seed;
        ASSERT_EQ(wheel_trace, model_trace) << "step " << step << ", seed " << seed;
      }
      ASSERT_EQ(tokens.size(), static_cast<std::size_t>(model_timers));
    }
    env.clock.advance(std::chrono::hours(24 * 365 * 20));
    while (env.poll() > 0) {
    }
    while (model.poll(env.clock.now(), [&](int id, Instant at) { model_fire(model_fire, id, at); }) > 0) {
    }
    EXPECT_EQ(wheel_trace, model_trace);
    EXPECT_GT(fire_count, 1000u);
  }
}

// --- real clock ------------------------------------------------------------------------------------

TEST(TimerWheel, WorksWithTheRealSteadyClock) {
  Env env;
  const Instant start = std::chrono::steady_clock::now();
  env.at(start + 2ms, 1);
  env.at(start + 1ms, 2);
  const auto stop = start + 2s;
  while (env.log().fired.size() < 2 && std::chrono::steady_clock::now() < stop) {
    env.poller().poll(env.world(), std::chrono::steady_clock::now());
    std::this_thread::sleep_for(100us);
  }
  EXPECT_EQ(env.log().ids(), (std::vector<int>{2, 1}));
  EXPECT_GE(std::chrono::steady_clock::now(), start + 2ms);
}

// --- VirtualClock ----------------------------------------------------------------------------------

TEST(VirtualClock, StartsWhereToldAndMovesOnlyWhenAdvancedOrSet) {
  VirtualClock clock;
  EXPECT_EQ(clock.now(), Instant{});
  VirtualClock later(Instant{} + 5s);
  EXPECT_EQ(later.now(), Instant{} + 5s);
  EXPECT_EQ(later.advance(250ms), Instant{} + 5250ms);
  EXPECT_EQ(later.now(), Instant{} + 5250ms);
  later.set(Instant{} + 1s);
  EXPECT_EQ(later.now(), Instant{} + 1s);
  static_assert(std::is_same_v<decltype(clock.now()), keel::Instant>);
}

TEST(VirtualClock, DrivesTimersDeterministically) {
  // The same schedule, run twice, gives the same trace, sequence numbers included.
  auto run = [] {
    Env env;
    env.wheel().schedule_periodic(env.clock.now() + 3ms, 3ms, env.logger(1));
    env.wheel().schedule_periodic(env.clock.now() + 2ms, 2ms, env.logger(2));
    env.in(6ms, 3);
    for (int i = 0; i < 12; ++i) env.advance_and_poll(1ms);
    return env.log().fired;
  };
  const std::vector<Fired> first = run();
  EXPECT_EQ(first, run());
  std::vector<int> ids;
  for (const Fired& f : first) ids.push_back(f.id);
  // 2 @2, 1 @3, 2 @4, then three at 6 ms in schedule order: 3 (scheduled
  // first), 1 (re-armed at 3 ms), 2 (re-armed at 4 ms).
  EXPECT_EQ(std::vector<int>(ids.begin(), ids.begin() + 6), (std::vector<int>{2, 1, 2, 3, 1, 2}));
}

}  // namespace
