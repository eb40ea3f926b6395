// Tests for async/timer.h: sleep and sleep_until resume in deadline order
// on the runtime's wheel (a seeded run against a multimap model), deadlines
// already due yield without a timer, abandoned waits leave no timer behind;
// timeout() gives the result, TimedOut or the task's exception — exactly one
// of them, also when the task's wait and the deadline end in one turn — and
// destroys a timed-out task before it returns; Interval under kSkip and
// kBurst; sleeping tasks beside a readiness handler on a pipe.
//
// Periods and sleeps are real and short (1-5 ms). The tests assert orders
// and counts, never durations; where an order depends on a deadline being
// still ahead when a task awaits it, the deadline is tens of milliseconds
// ahead and the test checks that its timers are pending.
#include "async/timer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "async/join_handle.h"
#include "async/runtime.h"
#include "async/task.h"
#include "async/waker.h"
#include "rt/handler.h"
#include "rt/timer.h"
#include "rt/uring.h"
#include "rt/world.h"
#include "tests/async/park.h"
#include "tests/rt/fd.h"
#include "tests/rt/tracking.h"

namespace {

using namespace std::chrono_literals;
using keel::Instant;
using keel::MissedTicks;
using keel::World;
using keel::WorldBuilder;
using keel::async::Interval;
using keel::async::JoinHandle;
using keel::async::Runtime;
using keel::async::Task;
using keel::async::TimedOut;
using keel::async::Waker;
using keel_test::Counts;
using keel_test::Park;
using keel_test::Tracked;

World empty_world() { return WorldBuilder().build(); }

// Far enough ahead that a deadline is still pending when the tasks that
// were just spawned await it, on a loaded machine too.
constexpr auto kAhead = 50ms;

// Blocks the loop (the calling task) until `until`: lets deadlines pass
// without the runtime polling its wheel meanwhile.
void stall_until(Instant until) {
  while (std::chrono::steady_clock::now() < until) {
  }
}

// The same from a task of its own, spawned to run after the tasks ahead of
// it have waited.
Task<void> hold_the_loop_until(Instant until) {
  stall_until(until);
  co_return;
}

// Spawns `waiting`, lets it reach its wait (one timer pending), aborts it,
// and checks that its timer and its frame (one Tracked) went with it.
void expect_abort_leaves_nothing(Runtime& rt, Task<void> waiting, const Counts& counts) {
  auto main = [&]() -> Task<void> {
    JoinHandle<void> h = keel::async::spawn(std::move(waiting));
    co_await keel::async::yield_now();
    EXPECT_EQ(rt.timers().size(), 1u);
    h.abort();
    EXPECT_TRUE(rt.timers().empty());
    EXPECT_EQ(counts.destroyed, 1);
  };
  rt.block_on(main());
}

// --- sleep, sleep_until ------------------------------------------------------

TEST(Sleep, TasksWakeInDeadlineOrderWhateverOrderTheyWereSpawnedIn) {
  World world = empty_world();
  Runtime rt(world);
  std::vector<int> woke;
  const Instant base = rt.now() + kAhead;
  auto sleeper = [](std::vector<int>& out, int id, Instant at) -> Task<void> {
    co_await keel::async::sleep_until(at);
    out.push_back(id);
  };
  auto main = [&]() -> Task<std::size_t> {
    JoinHandle<void> c = keel::async::spawn(sleeper(woke, 3, base + 3ms));
    JoinHandle<void> a = keel::async::spawn(sleeper(woke, 1, base + 1ms));
    JoinHandle<void> b = keel::async::spawn(sleeper(woke, 2, base + 2ms));
    co_await keel::async::yield_now();  // each sleeper has scheduled its timer
    const std::size_t pending = rt.timers().size();
    co_await c;
    co_await a;
    co_await b;
    co_return pending;
  };
  EXPECT_EQ(rt.block_on(main()), 3u);
  EXPECT_EQ(woke, (std::vector<int>{1, 2, 3}));
  EXPECT_TRUE(rt.timers().empty());
}

// Random deadlines with ties (100 µs steps, the wheel's resolution), random
// aborts before they fire, and sleepers that spawn a sleeper of their own
// when they wake, checked against a model: a multimap from deadline to
// sleeper, in which equal deadlines keep the order the sleepers started to
// wait, as the wheel does. Every seed runs at once on one runtime; each
// seed's sleepers must wake in its model's order.
TEST(Sleep, SeededSleepersWakeInDeadlineThenWaitOrderAndAbortedOnesNever) {
  constexpr int kSeeds = 200;
  constexpr int kSleepers = 24;
  constexpr int kChild = 1000;  // a child's id: kChild + its parent's
  struct Plan {
    std::vector<std::chrono::microseconds> offset;
    std::vector<bool> aborted;
    std::vector<std::chrono::microseconds> child_after;  // 0: no child
  };
  std::vector<Plan> plans(kSeeds);
  for (int seed = 0; seed < kSeeds; ++seed) {
    std::mt19937 rng(static_cast<std::uint32_t>(seed));
    for (int i = 0; i < kSleepers; ++i) {
      plans[seed].offset.push_back(std::chrono::microseconds(100 * (rng() % 16)));
      plans[seed].aborted.push_back(rng() % 5 == 0);
      plans[seed].child_after.push_back(rng() % 3 == 0 ? std::chrono::microseconds(100 * (rng() % 16)) + 2 * kAhead : 0us);
    }
  }
  std::vector<std::vector<int>> expected(kSeeds);
  for (int seed = 0; seed < kSeeds; ++seed) {
    const Plan& plan = plans[seed];
    std::multimap<std::chrono::microseconds, int> model;
    for (int i = 0; i < kSleepers; ++i) {
      if (!plan.aborted[i]) model.emplace(plan.offset[i], i);
    }
    while (!model.empty()) {
      const auto [at, id] = *model.begin();
      model.erase(model.begin());
      expected[seed].push_back(id);
      if (id < kChild && plan.child_after[id] > 0us) model.emplace(at + plan.child_after[id], kChild + id);
    }
  }

  World world = empty_world();
  Runtime rt(world);
  std::vector<std::vector<int>> woke(kSeeds);
  std::vector<JoinHandle<void>> children;
  children.reserve(kSeeds * kSleepers);  // main awaits into it: no reallocation
  Instant base;
  int late = 0;  // children whose deadline was due when they awaited it
  struct Sleeper {
    static Task<void> child(std::vector<int>& out, int id, Instant at, int& late) {
      late += at <= std::chrono::steady_clock::now();
      co_await keel::async::sleep_until(at);
      out.push_back(id);
    }
    static Task<void> run(std::vector<int>& out, const Instant& base, std::chrono::microseconds offset, int id,
                          std::chrono::microseconds child_after, std::vector<JoinHandle<void>>& children,
                          int& late) {
      const Instant at = base + offset;
      co_await keel::async::sleep_until(at);
      out.push_back(id);
      if (child_after > 0us) children.push_back(keel::async::spawn(child(out, kChild + id, at + child_after, late)));
    }
  };
  auto main = [&]() -> Task<std::size_t> {
    std::vector<JoinHandle<void>> handles;
    std::size_t waiting = 0;
    for (int seed = 0; seed < kSeeds; ++seed) {
      for (int i = 0; i < kSleepers; ++i) {
        handles.push_back(keel::async::spawn(Sleeper::run(woke[seed], base, plans[seed].offset[i], i,
                                                          plans[seed].child_after[i], children, late)));
        ++waiting;
      }
    }
    base = rt.now() + 4 * kAhead;      // read by each sleeper when it first runs, after this
    co_await keel::async::yield_now();  // every sleeper now waits on its timer
    const std::size_t pending = rt.timers().size();
    for (int seed = 0; seed < kSeeds; ++seed) {
      for (int i = 0; i < kSleepers; ++i) {
        if (plans[seed].aborted[i]) handles[seed * kSleepers + i].abort();
      }
    }
    for (JoinHandle<void>& h : handles) {
      if (!h.is_finished()) co_await h;
    }
    for (std::size_t i = 0; i < children.size(); ++i) co_await children[i];
    co_return pending == waiting;
  };
  ASSERT_TRUE(rt.block_on(main())) << "a deadline was due before its sleeper awaited it: the machine stalled";
  ASSERT_EQ(late, 0) << "a child's deadline was due before it awaited it: the machine stalled";
  for (int seed = 0; seed < kSeeds; ++seed) EXPECT_EQ(woke[seed], expected[seed]) << "seed " << seed;
  EXPECT_TRUE(rt.timers().empty());
  EXPECT_EQ(rt.tasks(), 0u);
}

// A deadline that has passed (or a length of zero or less) does not touch
// the wheel: the task goes to the back of the run queue, behind the tasks
// that were ready, and resumes in the same turn.
TEST(Sleep, ADeadlineAlreadyDueYieldsOnceWithoutATimer) {
  World world = empty_world();
  Runtime rt(world);
  std::vector<std::string> trace;
  auto sleeper = [&](std::string name, Task<void> (*wait)(Runtime&)) -> Task<void> {
    trace.push_back(name + " waits");
    co_await wait(rt);
    trace.push_back(name + " resumed");
  };
  auto witness = [&]() -> Task<void> {
    trace.push_back("witness, timers pending: " + std::to_string(rt.timers().size()));
    co_return;
  };
  auto main = [&]() -> Task<void> {
    JoinHandle<void> past = keel::async::spawn(sleeper("past", [](Runtime& r) -> Task<void> {
      co_await keel::async::sleep_until(r.now() - 1s);
    }));
    JoinHandle<void> zero = keel::async::spawn(sleeper("zero", [](Runtime&) -> Task<void> {
      co_await keel::async::sleep(0ns);
    }));
    JoinHandle<void> negative = keel::async::spawn(sleeper("negative", [](Runtime&) -> Task<void> {
      co_await keel::async::sleep(-5ms);
    }));
    JoinHandle<void> w = keel::async::spawn(witness());
    co_await past;
    co_await zero;
    co_await negative;
    co_await w;
  };
  rt.block_on(main());
  EXPECT_EQ(trace, (std::vector<std::string>{"past waits", "zero waits", "negative waits",
                                             "witness, timers pending: 0", "past resumed", "zero resumed",
                                             "negative resumed"}));
}

TEST(Sleep, AbortAtASleepLeavesNoTimerBehind) {
  World world = empty_world();
  Runtime rt(world);
  Counts counts;
  auto sleeper = [](Counts& c) -> Task<void> {
    Tracked guard(c);
    co_await keel::async::sleep(1h);
  };
  expect_abort_leaves_nothing(rt, sleeper(counts), counts);
  EXPECT_EQ(counts.live, 0);
}

TEST(Sleep, LengthsRoundUpToWholeNanosecondsAndSaturateAtTheEndOfTime) {
  const Instant before = std::chrono::steady_clock::now();
  const keel::async::Sleep fraction = keel::async::sleep(std::chrono::duration<double, std::micro>(1.5));
  EXPECT_GE(fraction.deadline() - before, 1500ns);
  EXPECT_EQ(keel::async::sleep(std::chrono::hours::max()).deadline(), Instant::max());
  EXPECT_EQ(keel::async::sleep_until(before).deadline(), before);
}

TEST(Sleep, AwaitedOutsideARuntimeTaskThrowsLogicError) {
  auto sleeper = []() -> Task<void> { co_await keel::async::sleep(1ms); };
  EXPECT_THROW(keel::async::internal::run_to_completion(sleeper()), std::logic_error);
}

// The runtime waits on the World's ring, bounded by its wheel: a readiness
// handler and sleeping tasks take turns on one thread, in causal order.
TEST(Sleep, SleepingTasksShareTheLoopWithAReadinessHandlerOnAPipe) {
  struct Trace {
    std::vector<std::string> events;
    Waker reader;
  };
  keel_test::FdPair pipe = keel_test::make_pipe();  // outlives the World's watch on it
  WorldBuilder wb;
  wb.install_driver(keel::UringInstaller{});
  wb.emplace<Trace>();
  World world = std::move(wb).build();
  Trace& trace = world.resource<Trace>();
  world.resource<keel::Uring>().watch(pipe.a.get(), keel::Readable,
                                      keel::handler(world.registry(), [](keel::ResMut<Trace> t, const keel::Readiness& r) {
                                        keel_test::drain(r.fd);
                                        t->events.push_back("handler read the pipe");
                                        t->reader.wake();
                                      }));
  Runtime rt(world);
  ASSERT_TRUE(rt.shares_world_ring());
  auto writer = [&]() -> Task<void> {
    co_await keel::async::sleep(2ms);
    trace.events.push_back("writer slept");
    keel_test::write_byte(pipe.b.get());
  };
  auto reader = [&]() -> Task<void> {
    co_await Park{&trace.reader};
    trace.events.push_back("reader woken by the handler");
    co_await keel::async::sleep(1ms);
    trace.events.push_back("reader slept");
  };
  auto main = [&]() -> Task<void> {
    JoinHandle<void> r = keel::async::spawn(reader());
    JoinHandle<void> w = keel::async::spawn(writer());
    co_await w;
    co_await r;
  };
  rt.block_on(main());
  EXPECT_EQ(trace.events, (std::vector<std::string>{"writer slept", "handler read the pipe",
                                                    "reader woken by the handler", "reader slept"}));
  EXPECT_TRUE(rt.timers().empty());
}

// --- timeout -----------------------------------------------------------------

Task<int> answer() { co_return 42; }

// What a parked task reports: its frame's destruction (one Tracked), the
// slot its wait's waker is left in, and its resumptions.
struct ParkedProbe {
  Counts counts;
  Waker slot;
  int resumed = 0;
};

// Waits in Park until woken through probe.slot, then gives 7.
Task<int> parked(ParkedProbe& probe) {
  Tracked guard(probe.counts);
  co_await Park{&probe.slot, &probe.resumed};
  co_return 7;
}

TEST(Timeout, GivesTheResultOfATaskThatFinishesInTimeAndCancelsItsDeadline) {
  World world = empty_world();
  Runtime rt(world);
  auto main = [&]() -> Task<int> {
    std::expected<int, TimedOut> ready = co_await keel::async::timeout(1h, answer());
    EXPECT_TRUE(rt.timers().empty());
    auto slow = []() -> Task<int> {
      co_await keel::async::sleep(1ms);
      co_return 5;
    };
    std::expected<int, TimedOut> waited = co_await keel::async::timeout(1h, slow());
    EXPECT_TRUE(rt.timers().empty());
    co_return ready.value() + waited.value();
  };
  EXPECT_EQ(rt.block_on(main()), 47);
}

TEST(Timeout, OfAVoidTaskGivesAnEmptyExpectedOrTimedOut) {
  World world = empty_world();
  Runtime rt(world);
  Waker never;
  auto main = [&]() -> Task<bool> {
    auto quick = []() -> Task<void> { co_await keel::async::yield_now(); };
    auto stuck = [](Waker& w) -> Task<void> { co_await Park{&w}; };
    std::expected<void, TimedOut> done = co_await keel::async::timeout(1h, quick());
    std::expected<void, TimedOut> late = co_await keel::async::timeout(1ms, stuck(never));
    co_return done.has_value() && !late.has_value();
  };
  EXPECT_TRUE(rt.block_on(main()));
}

TEST(Timeout, DestroysTheTimedOutTaskBeforeItReturns) {
  World world = empty_world();
  Runtime rt(world);
  ParkedProbe probe;
  auto main = [&]() -> Task<void> {
    keel::async::Timeout<int> bounded = keel::async::timeout(2ms, parked(probe));
    const Instant deadline = bounded.deadline();
    std::expected<int, TimedOut> r = co_await bounded;
    EXPECT_EQ(probe.counts.destroyed, 1);  // before timeout() returned
    EXPECT_EQ(probe.counts.live, 0);
    EXPECT_EQ(r, (std::expected<int, TimedOut>(std::unexpect, deadline)));
  };
  rt.block_on(main());
  probe.slot.wake();  // the task is gone: a no-op
  EXPECT_EQ(rt.tick(0ns), 0u);
  EXPECT_EQ(probe.resumed, 0);
  EXPECT_TRUE(rt.timers().empty());
  EXPECT_EQ(rt.tasks(), 0u);
}

// The task's own wait ends in the same poll as the deadline — its sleep's
// timer fires just before the deadline's — but it has not finished when the
// deadline fires: it times out, once, and is never resumed; its timer's
// wake finds the wait over.
TEST(Timeout, ATaskWokenInThePollItsDeadlineFiresTimesOutOnce) {
  World world = empty_world();
  Runtime rt(world);
  Counts counts;
  int resumed = 0;
  int outcomes = 0;
  const Instant deadline = rt.now() + kAhead;
  auto inner = [&]() -> Task<int> {
    Tracked guard(counts);
    co_await keel::async::sleep_until(deadline - 1ns);
    ++resumed;
    co_return 1;
  };
  auto main = [&]() -> Task<bool> {
    // Runs after the timers are scheduled and holds the loop until both
    // are due, so one poll fires both.
    keel::async::spawn(hold_the_loop_until(deadline + 1ms)).detach();
    std::expected<int, TimedOut> r = co_await keel::async::timeout_at(deadline, inner());
    ++outcomes;
    co_return r.has_value();
  };
  EXPECT_FALSE(rt.block_on(main()));
  EXPECT_EQ(outcomes, 1);
  EXPECT_EQ(resumed, 0);
  EXPECT_EQ(counts.destroyed, 1);
  EXPECT_TRUE(rt.timers().empty());
  EXPECT_EQ(rt.tasks(), 0u);
}

// The same race through the World's own wheel: a handler timer at the
// deadline wakes the task's wait. The runtime polls its own wheel first, so
// the deadline wins and the handler's wake is a no-op.
TEST(Timeout, AWakeFromAHandlerTimerInTheSamePollComesTooLate) {
  WorldBuilder wb;
  wb.install_driver(keel::TimerInstaller{});
  World world = std::move(wb).build();
  Runtime rt(world);
  ParkedProbe probe;
  const Instant deadline = rt.now() + kAhead;
  world.resource<keel::TimerWheel>().schedule(deadline, [&probe](Instant) { probe.slot.wake(); });
  auto main = [&]() -> Task<bool> {
    keel::async::spawn(hold_the_loop_until(deadline + 1ms)).detach();
    std::expected<int, TimedOut> r = co_await keel::async::timeout_at(deadline, parked(probe));
    co_return r.has_value();
  };
  EXPECT_FALSE(rt.block_on(main()));
  EXPECT_EQ(probe.resumed, 0);
  EXPECT_EQ(probe.counts.destroyed, 1);
  EXPECT_TRUE(world.resource<keel::TimerWheel>().empty());
  EXPECT_TRUE(rt.timers().empty());
}

// Tasks run before timers fire in a turn: a task that finishes in the turn
// its (past) deadline is due keeps its result, and the deadline's timer is
// cancelled before it fires.
TEST(Timeout, ATaskThatFinishesInTheTurnItsDeadlineIsDueKeepsItsResult) {
  World world = empty_world();
  Runtime rt(world);
  int outcomes = 0;
  auto inner = []() -> Task<int> {
    co_await keel::async::yield_now();
    co_return 9;
  };
  auto main = [&]() -> Task<int> {
    std::expected<int, TimedOut> r = co_await keel::async::timeout_at(rt.now() - 1s, inner());
    ++outcomes;
    co_return r.value_or(-1);
  };
  EXPECT_EQ(rt.block_on(main()), 9);
  EXPECT_EQ(outcomes, 1);
  EXPECT_TRUE(rt.timers().empty());
}

TEST(Timeout, PropagatesTheTasksExceptionBeforeOrAfterItWaits) {
  World world = empty_world();
  Runtime rt(world);
  auto throws_at_once = []() -> Task<int> {
    throw std::runtime_error("no venue");
    co_return 0;
  };
  auto throws_later = []() -> Task<void> {
    co_await keel::async::sleep(1ms);
    throw std::out_of_range("no book");
  };
  auto main = [&]() -> Task<int> {
    int caught = 0;
    try {
      (void)co_await keel::async::timeout(1h, throws_at_once());
    } catch (const std::runtime_error& e) {
      caught += std::string(e.what()) == "no venue";
    }
    EXPECT_TRUE(rt.timers().empty());
    try {
      (void)co_await keel::async::timeout(1h, throws_later());
    } catch (const std::out_of_range& e) {
      caught += std::string(e.what()) == "no book";
    }
    EXPECT_TRUE(rt.timers().empty());
    co_return caught;
  };
  EXPECT_EQ(rt.block_on(main()), 2);
}

TEST(Timeout, NestedTimeoutsEachEndTheirOwnTask) {
  World world = empty_world();
  Runtime rt(world);
  ParkedProbe probe;
  auto middle = [&](std::chrono::milliseconds limit) -> Task<bool> {
    std::expected<int, TimedOut> r = co_await keel::async::timeout(limit, parked(probe));
    co_return r.has_value();
  };
  auto main = [&]() -> Task<void> {
    // The inner deadline comes first: the middle task sees TimedOut and
    // finishes in time for the outer one.
    std::expected<bool, TimedOut> inner_first = co_await keel::async::timeout(1h, middle(1ms));
    EXPECT_EQ(inner_first, (std::expected<bool, TimedOut>(false)));
    EXPECT_EQ(probe.counts.destroyed, 1);
    EXPECT_TRUE(rt.timers().empty());
    // The outer deadline comes first: the middle task is destroyed with the
    // inner one, and the inner deadline's timer with them.
    std::expected<bool, TimedOut> outer_first = co_await keel::async::timeout(1ms, middle(1h));
    EXPECT_FALSE(outer_first.has_value());
    EXPECT_EQ(probe.counts.destroyed, 2);
    EXPECT_TRUE(rt.timers().empty());
  };
  rt.block_on(main());
  EXPECT_EQ(probe.resumed, 0);
}

// A chain of timeouts nested 100,000 deep: each awaits the next by
// symmetric transfer, so the stack stays bounded; the innermost deadline
// fires first and every level gets its result.
TEST(Timeout, ADeepChainOfNestedTimeoutsRunsInBoundedStack) {
  World world = empty_world();
  Runtime rt(world);
  struct Chain {
    static Task<void> forever() { co_await keel::async::sleep(1h); }
    static Task<int> level(int depth) {
      if (depth == 0) {
        std::expected<void, TimedOut> r = co_await keel::async::timeout(1ms, forever());
        co_return r.has_value() ? -1 : 0;
      }
      std::expected<int, TimedOut> r = co_await keel::async::timeout(1h, level(depth - 1));
      co_return r.value() + 1;
    }
  };
  EXPECT_EQ(rt.block_on(Chain::level(100'000)), 100'000);
  EXPECT_TRUE(rt.timers().empty());
}

TEST(Timeout, AbortingTheAwaitingTaskCancelsTheDeadlineAndDestroysTheInnerTask) {
  World world = empty_world();
  Runtime rt(world);
  ParkedProbe probe;
  auto waiter = [&]() -> Task<void> { (void)co_await keel::async::timeout(1h, parked(probe)); };
  expect_abort_leaves_nothing(rt, waiter(), probe.counts);
  probe.slot.wake();
  EXPECT_EQ(rt.tick(0ns), 0u);
  EXPECT_EQ(probe.resumed, 0);
}

// What the timed-out task held goes with it: here the JoinHandle of a task
// it spawned and awaited, whose drop aborts that task.
TEST(Timeout, ATimedOutTaskAwaitingASpawnedTaskAbortsItThroughItsHandle) {
  World world = empty_world();
  Runtime rt(world);
  ParkedProbe probe;
  auto joins = [&]() -> Task<int> { co_return co_await keel::async::spawn(parked(probe)); };
  auto main = [&]() -> Task<bool> {
    std::expected<int, TimedOut> r = co_await keel::async::timeout(1ms, joins());
    co_return r.has_value();
  };
  EXPECT_FALSE(rt.block_on(main()));
  EXPECT_EQ(probe.counts.destroyed, 1);
  EXPECT_EQ(probe.resumed, 0);
  EXPECT_EQ(rt.tasks(), 0u);
}

// A deadline that fires while its task is running — the task polled the
// runtime's wheel by hand — cannot end a wait the task is not in yet: it
// fires again at the runtime's next poll, and ends the wait the task is in
// by then.
TEST(Timeout, ADeadlineFiringWhileItsTaskRunsEndsTheTaskAtItsNextWait) {
  World world = empty_world();
  Runtime rt(world);
  ParkedProbe probe;
  auto polls_then_parks = [&]() -> Task<int> {
    const std::size_t fired = keel::TimerPoller(rt.timers()).poll(world, rt.now() + 1h);
    EXPECT_EQ(fired, 1u);
    EXPECT_EQ(rt.timers().size(), 1u);  // the deadline, armed again
    co_return co_await parked(probe);
  };
  auto main = [&]() -> Task<bool> {
    std::expected<int, TimedOut> r = co_await keel::async::timeout(1ms, polls_then_parks());
    co_return r.has_value();
  };
  EXPECT_FALSE(rt.block_on(main()));
  EXPECT_EQ(probe.counts.destroyed, 1);
  EXPECT_TRUE(rt.timers().empty());
}

TEST(Timeout, AwaitedOutsideARuntimeTaskThrowsLogicError) {
  auto outside = []() -> Task<void> { (void)co_await keel::async::timeout(1s, answer()); };
  EXPECT_THROW(keel::async::internal::run_to_completion(outside()), std::logic_error);
}

// --- Interval ----------------------------------------------------------------

// Holds the loop until four and a half periods after `first`, and gives the
// instant it lets go: four ticks missed, the fifth not yet due.
Instant stall_past_four_ticks(Instant first, std::chrono::nanoseconds period) {
  stall_until(first + 4 * period + period / 2);
  return std::chrono::steady_clock::now();
}

TEST(Interval, TicksAreWholePeriodsFromTheFirstInIncreasingOrder) {
  World world = empty_world();
  Runtime rt(world);
  const Instant first = rt.now() + 1ms;
  Interval tick(first, 1ms);
  auto main = [&]() -> Task<std::vector<Instant>> {
    std::vector<Instant> ticks;
    for (int i = 0; i < 5; ++i) ticks.push_back(co_await tick.next());
    co_return ticks;
  };
  const std::vector<Instant> ticks = rt.block_on(main());
  ASSERT_EQ(ticks.size(), 5u);
  EXPECT_EQ(ticks.front(), first);
  for (std::size_t i = 1; i < ticks.size(); ++i) {
    EXPECT_GT(ticks[i], ticks[i - 1]);
    EXPECT_EQ((ticks[i] - first) % 1ms, 0ns);
  }
}

// After a stall past several ticks, kSkip gives the missed tick once and
// continues at the first tick after the stall, in phase.
TEST(Interval, SkipGivesOneLateTickThenContinuesInPhase) {
  World world = empty_world();
  Runtime rt(world);
  constexpr auto kPeriod = 2ms;
  const Instant first = rt.now() + kPeriod;
  Interval tick(first, kPeriod, MissedTicks::kSkip);
  Instant stalled_until;
  auto main = [&]() -> Task<std::vector<Instant>> {
    stalled_until = stall_past_four_ticks(first, kPeriod);
    std::vector<Instant> ticks;
    ticks.push_back(co_await tick.next());
    ticks.push_back(co_await tick.next());
    co_return ticks;
  };
  const std::vector<Instant> ticks = rt.block_on(main());
  EXPECT_EQ(ticks[0], first);
  EXPECT_GT(ticks[1], stalled_until);
  EXPECT_GE(ticks[1], first + 5 * kPeriod);
  EXPECT_EQ((ticks[1] - first) % kPeriod, 0ns);
}

// After the same stall, kBurst gives every missed tick, consecutive, one
// per co_await: each yields, so a task that was ready runs in between.
TEST(Interval, BurstGivesEveryMissedTickOnePerAwait) {
  World world = empty_world();
  Runtime rt(world);
  constexpr auto kPeriod = 2ms;
  const Instant first = rt.now() + kPeriod;
  Interval tick(first, kPeriod, MissedTicks::kBurst);
  Instant stalled_until;
  std::vector<std::string> trace;
  auto witness = [&](const bool& done) -> Task<void> {
    while (!done) {
      trace.push_back("witness");
      co_await keel::async::yield_now();
    }
  };
  auto main = [&]() -> Task<std::vector<Instant>> {
    bool done = false;
    JoinHandle<void> w = keel::async::spawn(witness(done));
    stalled_until = stall_past_four_ticks(first, kPeriod);
    std::vector<Instant> ticks;
    do {
      ticks.push_back(co_await tick.next());
      trace.push_back("tick");
    } while (ticks.back() <= stalled_until);
    done = true;
    co_await w;
    co_return ticks;
  };
  const std::vector<Instant> ticks = rt.block_on(main());
  const auto missed = static_cast<std::size_t>((stalled_until - first) / kPeriod) + 1;
  ASSERT_EQ(ticks.size(), missed + 1);  // every missed tick, then the first one after the stall
  EXPECT_GE(missed, 5u);
  for (std::size_t i = 0; i < ticks.size(); ++i) EXPECT_EQ(ticks[i], first + static_cast<int>(i) * kPeriod);
  // The witness ran between every two late ticks.
  for (std::size_t i = 0; i + 1 < trace.size() && i < 2 * missed; i += 2) {
    EXPECT_EQ(trace[i], "witness") << i;
    EXPECT_EQ(trace[i + 1], "tick") << i;
  }
}

TEST(Interval, AWaitAbandonedTakesNoTick) {
  World world = empty_world();
  Runtime rt(world);
  Interval tick(1h);
  const Instant due = tick.deadline();
  auto waits = [&]() -> Task<Instant> { co_return co_await tick.next(); };
  auto main = [&]() -> Task<bool> {
    std::expected<Instant, TimedOut> r = co_await keel::async::timeout(1ms, waits());
    co_return r.has_value();
  };
  EXPECT_FALSE(rt.block_on(main()));
  EXPECT_EQ(tick.deadline(), due);
  EXPECT_TRUE(rt.timers().empty());
}

TEST(Interval, APeriodThatIsNotPositiveIsAConfigError) {
  EXPECT_THROW(Interval(0ms), keel::ConfigError);
  EXPECT_THROW(Interval(std::chrono::steady_clock::now(), -1ms), keel::ConfigError);
}

}  // namespace
